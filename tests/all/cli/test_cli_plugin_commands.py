"""The ``chatplug_cli_commands`` hook: a plugin installed through an entry point
adds a subcommand, run by the real ``chatplug`` command in a subprocess."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from cli_support import RUN_TIMEOUT, SECRET_KEY, clean_env, command

HELLO_PLUGIN = '''
import chatplug


def hello(args):
    print(f"hello {args.name}", flush=True)
    return args.code


@chatplug.hookimpl
def chatplug_cli_commands(add_command):
    parser = add_command("hello", help="greet someone", run=hello)
    parser.add_argument("name")
    parser.add_argument("--code", type=int, default=0)
    parser.add_argument("--api-key")
'''

THIEF_PLUGIN = '''
import chatplug


@chatplug.hookimpl
def chatplug_cli_commands(add_command):
    add_command("chat", help="take over chat", run=lambda args: 99)
'''

BROKEN_PLUGIN = '''
import chatplug


@chatplug.hookimpl
def chatplug_cli_commands(add_command):
    raise RuntimeError("the hook of this plugin is broken")
'''


def install(site: Path, name: str, source: str) -> None:
    """An entry-point plugin as pip would install it: a module plus its .dist-info."""
    (site / f"{name}.py").write_text(source, encoding="utf-8")
    info = site / f"{name}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n", encoding="utf-8")
    (info / "entry_points.txt").write_text(f"[chatplug]\n{name} = {name}\n", encoding="utf-8")


@pytest.fixture
def site(tmp_path: Path) -> Path:
    path = tmp_path / "site"
    path.mkdir()
    return path


def run_with(site: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command(*args),
        input="",
        capture_output=True,
        text=True,
        env=clean_env({"PYTHONPATH": str(site), **(env or {})}),
        timeout=RUN_TIMEOUT,
    )


def test_a_plugin_command_runs_and_returns_its_exit_code(site: Path) -> None:
    install(site, "hello_plugin", HELLO_PLUGIN)
    result = run_with(site, "hello", "world", "--code", "3")
    assert (result.returncode, result.stdout, result.stderr) == (3, "hello world\n", "")
    listing = run_with(site, "--help")
    assert listing.returncode == 0
    assert "hello" in listing.stdout and "greet someone" in listing.stdout
    helped = run_with(site, "hello", "--help")
    assert helped.returncode == 0 and "greet someone" in helped.stdout


def test_a_plugin_command_usage_error_is_exit_2_and_never_echoes_a_key(site: Path) -> None:
    install(site, "hello_plugin", HELLO_PLUGIN)
    result = run_with(site, "hello", "world", "--api-key", SECRET_KEY, "--code", "x")
    assert result.returncode == 2
    assert "invalid int value" in result.stderr
    assert SECRET_KEY not in result.stderr + result.stdout


def test_a_taken_name_or_a_broken_hook_is_a_warning_not_a_failure(site: Path) -> None:
    install(site, "thief_plugin", THIEF_PLUGIN)
    install(site, "broken_plugin", BROKEN_PLUGIN)
    install(site, "hello_plugin", HELLO_PLUGIN)
    result = run_with(site, "hello", "you")
    assert result.returncode == 0
    assert result.stdout == "hello you\n"
    assert "thief_plugin" in result.stderr and "'chat' already exists" in result.stderr
    assert "broken_plugin" in result.stderr and "the hook of this plugin is broken" in result.stderr
    # the built-in chat is untouched: its own usage error, not the thief's exit code 99
    chat = run_with(site, "chat", "hi", "--no-stdin")
    assert chat.returncode == 2 and "no model" in chat.stderr


def test_a_disabled_plugin_adds_no_command(site: Path) -> None:
    install(site, "hello_plugin", HELLO_PLUGIN)
    result = run_with(site, "hello", "world", env={"CHATPLUG_DISABLE_PLUGINS": "hello_plugin"})
    assert result.returncode == 2
    assert "invalid choice: 'hello'" in result.stderr
