"""The ``chatplug`` command, split by concern.

- :mod:`._parser`: the argparse command line and ``-o key=value`` parsing.
- :mod:`._chat`: ``chatplug chat``, one-shot and interactive.
- :mod:`._render`: how a reply, its reasoning and its usage are printed.
- :mod:`._listing`: ``chatplug providers`` and ``chatplug models``.
- :mod:`._errors`: one-line error messages, hints and exit codes.
- :mod:`._debug`: ``--debug`` logging with every key redacted.

:func:`chatplug.cli.main` is the entry point.
"""
