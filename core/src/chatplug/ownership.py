"""``@chatplug.owned``: a hook implementation that acts only for its own provider.

Every hook that receives ``provider`` must do nothing for providers its plugin
does not own, or one plugin would take over every other provider's calls.
Instead of opening each hook with ``if provider.id != "acme": return None``,
declare the owner once::

    PROVIDER = chatplug.Provider(id="acme", base_url="https://api.acme.example/v1", ...)

    @chatplug.owned(PROVIDER)
    def chatplug_map_error(provider, status_code, body):
        ...   # only ever called for provider "acme"

``owned`` marks the function as a hook implementation (it applies
:data:`chatplug.hookimpl`, passing on ``tryfirst=`` and the other pluggy
options) and returns ``None`` without calling it for any other provider.
It works on module-level functions and on methods alike.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, TypeVar

from chatplug.hookspecs import hookimpl
from chatplug.provider import Provider

__all__ = ["owned"]

_F = TypeVar("_F", bound=Callable[..., Any])


def owned(owner: Provider | str, **hookimpl_options: Any) -> Callable[[_F], _F]:
    """Decorate a hook implementation so it runs only for ``owner`` (a :class:`~chatplug.Provider` or its id).

    The function must take a ``provider`` argument (pluggy passes a hook
    implementation only the arguments it names). For any other provider the
    call returns ``None`` at once: a firstresult hook passes on to the next
    implementation, and ``chatplug_prepare_payload`` leaves the payload alone.
    ``hookimpl_options`` (``tryfirst=True``, ...) go to :data:`chatplug.hookimpl`.
    """
    owner_id = owner.id if isinstance(owner, Provider) else owner
    if not isinstance(owner_id, str) or not owner_id:
        raise TypeError(f"owned() needs a Provider or a provider id, got {owner!r}")

    def decorate(func: _F) -> _F:
        parameters = list(inspect.signature(func).parameters)
        if "provider" not in parameters:
            raise TypeError(
                f"@owned({owner_id!r}) on {func.__qualname__}: the function must take a `provider` argument "
                "(the guard reads provider.id)"
            )
        index = parameters.index("provider")

        @functools.wraps(func)  # pluggy reads the wrapped function's argument names
        def guarded(*args: Any, **kwargs: Any) -> Any:
            provider = kwargs["provider"] if "provider" in kwargs else args[index]
            if getattr(provider, "id", None) != owner_id:
                return None
            return func(*args, **kwargs)

        guarded.owner_id = owner_id  # type: ignore[attr-defined]
        return hookimpl(**hookimpl_options)(guarded)  # type: ignore[no-any-return]

    return decorate
