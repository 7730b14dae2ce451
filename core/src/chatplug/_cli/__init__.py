"""The ``chatplug`` command, split by concern.

- :mod:`._parser`: the argparse command line and ``-o key=value`` parsing.
- :mod:`._chat`: ``chatplug chat``, one-shot and interactive.
- :mod:`._render`: how a reply, its reasoning and its usage are printed.
- :mod:`._listing`: ``chatplug providers`` and ``chatplug models``.
- :mod:`._errors`: one-line error messages, hints and exit codes.
- :mod:`._debug`: ``--debug`` logging with every key redacted.
- :mod:`._interactive`: ``chat -i``: slash commands and Ctrl-C.
- :mod:`._waits`: retry lines and the first-token indicator on stderr.
- :mod:`._listing_json`: ``providers --json`` and ``models --json``.
- :mod:`._paths`: the platform's data and config directories.
- :mod:`._log`, :mod:`._record`: the SQLite conversation log and what each turn writes to it.
- :mod:`._keys`, :mod:`._settings`: the key store and the default model.
- :mod:`._commands`: ``logs``, ``keys`` and ``models default``.
- :mod:`._plugin_commands`: subcommands added by plugins (``chatplug_cli_commands``).

The log, key and interactive modules are imported only by the commands that use them.

:func:`chatplug.cli.main` is the entry point.
"""
