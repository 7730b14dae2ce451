"""``chatplug serve``: run the gateway under uvicorn, or ``--check`` its config."""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
from collections.abc import Mapping

from chatplug_gateway._config import ENV_CONFIG, GatewayConfig, GatewayConfigError, is_loopback, load_config

__all__ = ["add_arguments", "check_config", "serve"]

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``chatplug serve`` (each overrides the config file's value)."""
    parser.add_argument("--config", metavar="PATH",
                        help=f"the gateway's TOML file (default: ${ENV_CONFIG}; none: loopback, no keys)")
    parser.add_argument("--host", help="address to listen on, as uvicorn's --host (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port to listen on, as uvicorn's --port (default 8000)")
    parser.add_argument("--workers", type=int, help="worker processes, as uvicorn's --workers (default 1)")
    parser.add_argument("--check", action="store_true",
                        help="check the config file (and that its models and key variables resolve), then exit")
    parser.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"],
                        help="uvicorn's log level (default info)")


def _config_path(args: argparse.Namespace, environ: Mapping[str, str]) -> str | None:
    return args.config or environ.get(ENV_CONFIG) or None


def check_config(config: GatewayConfig, environ: Mapping[str, str]) -> None:
    """What ``--check`` adds to parsing: models and aliases route, provider key variables are set."""
    from chatplug.plugins import default_registry

    from chatplug_gateway._config import fail_unknown_models

    registry = default_registry()
    fail_unknown_models(config, registry.resolve_model)
    for source in config.provider_keys:
        if not any(environ.get(name) for name in source.api_key_env):
            raise GatewayConfigError(config.path, _line_of(config, f"providers.{source.provider}"),
                                     f"providers.{source.provider}: none of {', '.join(source.api_key_env)} is set")


def _line_of(config: GatewayConfig, table: str) -> int | None:
    if config.path is None:
        return None
    for number, line in enumerate(config.path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip().replace(" ", "") == f"[{table}]":
            return number
    return None


def serve(args: argparse.Namespace) -> int:
    """Run ``chatplug serve`` with parsed arguments; the exit code."""
    environ = os.environ
    path = _config_path(args, environ)
    try:
        config = load_config(path, environ=environ).with_env_keys(environ)
        check_config(config, environ)  # models that do not route, unset key variables: say so before starting
    except GatewayConfigError as exc:
        sys.stderr.write(f"chatplug serve: {exc}\n")
        return EXIT_ERROR
    host = args.host or config.host
    port = config.port if args.port is None else args.port
    workers = config.workers if args.workers is None else args.workers
    if not 0 <= port <= 65535:
        sys.stderr.write(f"chatplug serve: --port {port} must be 0-65535\n")
        return EXIT_USAGE
    if workers < 1:
        sys.stderr.write(f"chatplug serve: --workers {workers} must be 1 or more\n")
        return EXIT_USAGE
    if not config.keys and not is_loopback(host):
        sys.stderr.write(
            f"chatplug serve: refusing to listen on {host} without a gateway key: anyone who can reach it could "
            "spend your provider keys. Add [[keys]] to the config file or set CHATPLUG_GATEWAY_KEYS, or listen "
            "on 127.0.0.1.\n")
        return EXIT_USAGE
    limited = any(key.limits.any for key in config.keys) or config.upstream_limits
    if workers > 1 and limited and config.storage.startswith("memory://"):
        sys.stderr.write(
            f"chatplug serve: warning: {workers} workers with in-memory limits: each worker counts its own, so "
            "every limit is multiplied by the number of workers. Set [limits] storage to a Redis URL to share "
            "them.\n")
    if args.check:
        where = path or "(no config file)"
        sys.stdout.write(
            f"{where}: ok: listen {host}:{port}, {workers} worker(s), {len(config.keys)} gateway key(s), "
            f"{len(config.aliases)} alias(es), {len(config.fallbacks)} fallback chain(s), "
            f"{len(config.upstream_limits)} upstream limit(s), limits storage "
            f"{'redis' if not config.storage.startswith('memory://') else 'memory'}\n")
        return EXIT_OK
    return _run(path, host, port, workers, config, args.log_level)


def _run(path: str | None, host: str, port: int, workers: int, config: GatewayConfig, log_level: str) -> int:
    import uvicorn

    if path:
        os.environ[ENV_CONFIG] = str(os.path.abspath(path))  # the workers' app factory reads it
    cleanup: tempfile.TemporaryDirectory[str] | None = None
    if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        cleanup = tempfile.TemporaryDirectory(prefix="chatplug-gateway-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = cleanup.name  # /metrics then sums every worker
    try:
        if workers > 1:
            uvicorn.run("chatplug_gateway._app:app_from_env", factory=True, host=host, port=port, workers=workers,
                        log_level=log_level, timeout_graceful_shutdown=math.ceil(config.graceful_timeout))
        else:
            from chatplug_gateway._app import create_app

            uvicorn.run(create_app(config), host=host, port=port, log_level=log_level,
                        timeout_graceful_shutdown=math.ceil(config.graceful_timeout))
    finally:
        if cleanup is not None:
            cleanup.cleanup()
    return EXIT_OK
