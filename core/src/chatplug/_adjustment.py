"""``chatplug.events.Adjustment``, defined here and created on first use.

Part of :mod:`chatplug.events`, which imports this module on first access to
``Adjustment``: import it from there (its ``__module__`` says so, for reprs
and pickles). A request the core changes nothing in never creates the class.
No ``from __future__ import annotations``: the field types are real objects,
so resolving them needs no module namespace.
"""

from typing import Any, Literal

import attr

__all__ = ["Adjustment"]


@attr.frozen
class Adjustment:
    """One change the core made to a request before sending it.

    - ``action``: ``"dropped"`` (removed under ``drop_unsupported_params``),
      ``"renamed"`` (a pure name difference, e.g. ``max_completion_tokens`` ->
      ``max_tokens``) or ``"filled"`` (a placeholder ``reasoning_content``
      added under ``reasoning_placeholder``).
    - ``param``: the parameter (or ``messages[i].reasoning_content``).
    - ``value``: the value that was dropped or renamed (``None`` for a fill).
    - ``reason``: why, in one sentence naming the model.
    - ``to``: the new name, for a rename.
    """

    action: Literal["dropped", "renamed", "filled"]
    param: str
    reason: str
    value: Any = attr.field(default=None, repr=False)
    to: str | None = None


Adjustment.__module__ = "chatplug.events"
