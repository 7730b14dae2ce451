"""``chatplug chat -i``: a conversation with slash commands.

A line that starts with ``/`` is a command for the session and is never sent
to the model (``//text`` sends ``/text``). Ctrl-C while a reply streams
cancels that reply (the connection is closed, so the server stops) and the
session goes on; Ctrl-C at the prompt, Ctrl-D, ``/exit`` or ``/quit`` end it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TextIO

from chatplug._cli._chat import EXIT_COMMANDS, _enable_line_editing, _read_line, history_message, valid_text
from chatplug._cli._errors import EXIT_ERROR, EXIT_INTERRUPTED, UsageError
from chatplug._cli._render import is_tty
from chatplug.errors import APIError, ChatplugError

if TYPE_CHECKING:
    from chatplug._cli._chat import ChatSession

__all__ = ["HELP", "InteractiveChat"]

HELP = """\
commands (never sent to the model):
  /help          show this list
  /reset         forget the conversation so far and start a new one (the system prompt stays)
  /model NAME    use another model from the next turn on
  /system TEXT   set the system prompt from the next turn on; /system alone removes it
  /exit, /quit   leave (so do Ctrl-D, and Ctrl-C at the prompt)
  //TEXT         send TEXT starting with a single '/'
Ctrl-C while a reply is coming cancels that reply; the conversation goes on without it."""


class InteractiveChat:
    """One ``-i`` session: the history, the slash commands and the Ctrl-C rules."""

    def __init__(self, session: ChatSession, stdin: TextIO | None) -> None:
        self.session = session
        self.stdin = stdin
        self.tty = is_tty(stdin)
        self.messages: list[dict[str, Any]] = session.first_messages()
        self.failed = False
        self.commands: dict[str, Callable[[str], None]] = {
            "/help": self._help,
            "/reset": self._reset,
            "/model": self._model,
            "/system": self._system,
        }

    def _note(self, text: str) -> None:
        self.session.stderr.write(f"chatplug: {text}\n")
        self.session.stderr.flush()

    def run(self, first_prompt: str | None) -> int:
        """Hold the conversation until it ends; 0, 1 when any turn failed, 130 for Ctrl-C at the prompt."""
        if self.tty:
            _enable_line_editing()
            self._note(f"chatting with {self.session.model}; /help for commands, /exit or Ctrl-D to leave")
        pending = first_prompt
        while True:
            if pending is not None:
                text, pending = pending, None
            else:
                try:
                    line = _read_line(self.stdin, self.tty, self.session.stdout)
                except KeyboardInterrupt:  # Ctrl-C at the prompt ends the session
                    self.session.stdout.write("\n")
                    self.session.stdout.flush()
                    return EXIT_INTERRUPTED
                if line is None:
                    break
                text = line
            stripped = text.strip()
            if stripped in EXIT_COMMANDS:
                break
            if not stripped:
                continue
            if stripped.startswith("/") and not stripped.startswith("//"):
                self._command(stripped)
                continue
            if stripped.startswith("//"):
                text = text.lstrip()[1:]
            self._turn(text)
        return EXIT_ERROR if self.failed else 0

    # ------------------------------------------------------------- turns

    def _turn(self, text: str) -> None:
        try:
            valid_text(text, "the line")
        except UsageError as error:
            self._note(f"{error}; not sent")
            self.failed = True
            return
        self.messages.append({"role": "user", "content": text})
        try:
            final = self.session.complete(self.messages)
        except KeyboardInterrupt:
            self.messages.pop()
            self.session.stdout.write("\n")
            self.session.stdout.flush()
            self._note("reply cancelled; this turn is left out of the conversation")
            return
        except APIError as error:
            self.messages.pop()
            self.session.report_error(error)
            self.failed = True
            return
        reply = history_message(final)
        if reply is None:
            self.messages.pop()  # nothing to keep (a tool call only): the history stays valid without the turn
            self._note("this turn is left out of the conversation (no text in the reply)")
        else:
            self.messages.append(reply)

    # ------------------------------------------------------------- commands

    def _command(self, line: str) -> None:
        name, _, argument = line.partition(" ")
        handler = self.commands.get(name)
        if handler is None:
            self._note(f"unknown command {name}; /help lists the commands (start with // to send a '/' line)")
            return
        handler(argument.strip())

    def _help(self, argument: str) -> None:
        self.session.stderr.write(HELP + "\n")
        self.session.stderr.flush()

    def _reset(self, argument: str) -> None:
        self.session.history = []
        self.messages = self.session.first_messages()
        recorder = self.session.recorder
        if recorder is not None:
            from chatplug._cli._log import new_conversation_id

            recorder.conversation_id = new_conversation_id()
        self._note("conversation cleared" + (f" (new conversation {recorder.conversation_id})" if recorder else ""))

    def _model(self, argument: str) -> None:
        if not argument:
            self._note(f"the model is {self.session.model}; /model NAME changes it")
            return
        try:
            self.session.switch_model(argument)
        except (UsageError, ChatplugError) as error:
            self._note(f"model not changed: {error}")
            return
        self._note(f"model is now {argument}")

    def _system(self, argument: str) -> None:
        has_system = bool(self.messages) and self.messages[0].get("role") == "system"
        if has_system:
            del self.messages[0]
        self.session.system = argument or None
        if argument:
            self.messages.insert(0, {"role": "system", "content": argument})
            self._note("system prompt set")
        else:
            self._note("system prompt removed")
