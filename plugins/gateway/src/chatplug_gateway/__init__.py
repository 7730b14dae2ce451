"""chatplug-gateway: an OpenAI-compatible HTTP gateway for every installed chatplug provider.

``chatplug serve`` (added through the core's ``chatplug_cli_commands`` hook)
runs it under uvicorn; :func:`create_app` gives the Starlette app to embed.
This module stays light: Starlette, uvicorn and prometheus-client load only
when the command runs or the app is built, so ``chatplug --help`` stays fast.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

import chatplug

if TYPE_CHECKING:
    from chatplug.cli import AddCommand
    from starlette.applications import Starlette

    from chatplug_gateway._config import GatewayConfig, GatewayConfigError, GatewayKey, load_config

__all__ = ["GatewayConfig", "GatewayConfigError", "GatewayKey", "create_app", "load_config", "__version__"]

__version__ = "0.1.0"


def _serve(args: argparse.Namespace) -> int:
    from chatplug_gateway._command import serve

    return serve(args)


@chatplug.hookimpl
def chatplug_cli_commands(add_command: AddCommand) -> None:
    """Add ``chatplug serve``."""
    from chatplug_gateway._command import add_arguments

    parser = add_command(
        "serve",
        help="serve every installed provider as an OpenAI-compatible HTTP API",
        description="Serve /v1/chat/completions, /v1/models, /health and /metrics for every installed provider "
        "(chatplug-gateway). Options override the config file's [server] values.",
        run=_serve,
    )
    add_arguments(parser)


def create_app(config: GatewayConfig | None = None, **options: Any) -> Starlette:
    """The gateway as a Starlette app (see :func:`chatplug_gateway._app.create_app`)."""
    from chatplug_gateway._app import create_app as build

    return build(config, **options)


def __getattr__(name: str) -> Any:
    if name in ("GatewayConfig", "GatewayConfigError", "GatewayKey", "load_config"):
        from chatplug_gateway import _config

        return getattr(_config, name)
    raise AttributeError(f"module 'chatplug_gateway' has no attribute {name!r}")
