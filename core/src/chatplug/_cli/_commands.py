"""``chatplug logs``, ``chatplug keys`` and ``chatplug models default``.

Imported only when one of these commands runs, so ``chatplug --help``,
``chatplug chat`` and ``chatplug providers`` never load :mod:`sqlite3`.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
from typing import Any, TextIO

from chatplug._cli._errors import UsageError
from chatplug._cli._render import is_tty

__all__ = ["run_keys", "run_logs", "run_models_default"]


# ------------------------------------------------------------------- logs


def _format_exchange(record: dict[str, Any]) -> str:
    model = f"{record['provider']}/{record['model']}" if record.get("provider") else record["model"]
    head = f"# {record['created_at']}  {model}  conversation {record['conversation_id']}"
    facts = []
    if record.get("duration_ms") is not None:
        facts.append(f"{record['duration_ms'] / 1000:.1f}s")
    usage = record.get("usage") or {}
    if usage.get("total_tokens") is not None:
        facts.append(f"{usage['total_tokens']} tokens")
    if facts:
        head += f"  ({', '.join(facts)})"
    parts = [head, ""]
    if record.get("system"):
        parts += ["## System", "", record["system"].strip("\n"), ""]
    parts += ["## Prompt", "", record["prompt"].strip("\n"), ""]
    if record.get("reasoning"):
        parts += ["## Reasoning", "", record["reasoning"].strip("\n"), ""]
    if record.get("response") is not None:
        title = "## Response (partial)" if record.get("error") else "## Response"
        parts += [title, "", record["response"].strip("\n"), ""]
    if record.get("tool_calls"):
        parts += ["## Tool calls", "", json.dumps(record["tool_calls"], ensure_ascii=False, indent=2), ""]
    if record.get("error"):
        parts += ["## Error", "", record["error"], ""]
    return "\n".join(parts)


def run_logs(args: argparse.Namespace, out: TextIO) -> int:
    """``chatplug logs [path]``: print the log's path, or its latest exchanges."""
    from chatplug._cli._errors import CommandFailed
    from chatplug._cli._log import ConversationLog, LogError, log_path

    path = log_path()
    if getattr(args, "logs_command", None) == "path":
        out.write(f"{path}\n")
        return 0
    log = ConversationLog(path)
    count = None if args.count == 0 else args.count
    try:
        records = log.recent(count=count, query=args.query, conversation_id=args.cid, model=args.model)
    except LogError as error:
        raise CommandFailed(str(error)) from None
    if args.json:
        out.write(json.dumps(records, ensure_ascii=False, indent=2) + "\n")
        return 0
    out.write("\n".join(_format_exchange(record) for record in records))
    out.flush()
    return 0


# ------------------------------------------------------------------- keys


def _read_key(provider: str, stdin: TextIO | None) -> str:
    if stdin is not None and not is_tty(stdin):
        key = stdin.read()
    else:
        key = getpass.getpass(f"API key for {provider} (input hidden): ")
    key = key.strip()
    if not key:
        raise UsageError("no key given: type it at the prompt, or pipe it on stdin")
    if any(character.isspace() for character in key):
        raise UsageError("the key contains whitespace; give the key alone, on one line")
    return key


def run_keys(args: argparse.Namespace, stdin: TextIO | None, out: TextIO, err: TextIO) -> int:
    """``chatplug keys set|list|path|remove``."""
    from chatplug._cli._errors import CommandFailed
    from chatplug._cli._keys import KeyNameError, KeyStore, KeyStoreError

    store = KeyStore()
    action = args.keys_command
    try:
        if action == "path" or action is None:
            out.write(f"{store.path}\n")
            return 0
        if action == "list":
            if store.readable_by_others():
                err.write(f"chatplug: warning: {store.path} can be read by other users; run chmod 600 on it\n")
            for name in store.names():
                out.write(f"{name}\n")
            return 0
        if action == "remove":
            if not store.remove(args.provider):
                raise UsageError(f"no key is stored for {args.provider!r}; 'chatplug keys list' shows the names")
            err.write(f"chatplug: removed the key of {args.provider}\n")
            return 0
        key = _read_key(args.provider, stdin)
        store.set(args.provider, key)
    except KeyNameError as error:
        raise UsageError(str(error)) from None
    except KeyStoreError as error:  # the file, not the command line, is wrong: exit 1
        raise CommandFailed(str(error)) from None
    err.write(f"chatplug: key for {args.provider} saved in {store.path}\n")
    _warn_unknown_provider(args.provider, err)
    return 0


def _warn_unknown_provider(provider: str, err: TextIO) -> None:
    from chatplug.plugins import default_registry

    installed = default_registry().providers()
    if provider not in installed:
        names = ", ".join(sorted(installed)) or "none"
        err.write(f"chatplug: note: no installed provider has id {provider!r} (installed: {names})\n")


# ------------------------------------------------------------------- models default


def run_models_default(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """``chatplug models default [MODEL | --clear]``: show, set or remove the default model."""
    from chatplug._cli._settings import clear_default_model, get_default_model, set_default_model

    if args.clear:
        if args.default_model:
            raise UsageError("give MODEL or --clear, not both")
        if clear_default_model():
            err.write("chatplug: default model removed\n")
        return 0
    if args.default_model is None:
        current = get_default_model()
        if current is None:
            err.write("chatplug: no default model; set one with 'chatplug models default MODEL'\n")
            return 0
        out.write(f"{current}\n")
        return 0
    from chatplug.plugins import default_registry

    model = args.default_model.strip()
    if not model:
        raise UsageError("the model name is empty")
    default_registry().resolve_model(model)  # an unknown model is refused now, not at the next chat
    set_default_model(model)
    err.write(f"chatplug: default model is now {model}\n")
    from chatplug._cli._chat import MODEL_ENV

    overriding = os.environ.get(MODEL_ENV)
    if overriding:
        err.write(f"chatplug: note: {MODEL_ENV}={overriding} is set and wins over the default\n")
    return 0
