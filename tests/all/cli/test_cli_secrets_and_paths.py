"""No key in any output of any new command or in any file but the key store; and the
platform conventions of the data and config directories."""

from __future__ import annotations

from pathlib import Path

import pytest
from chatplug.testing import FakeServer, Reply
from cli_support import FIXTURES, SECRET_KEY, UserDirs, load_json, run

STORED_KEY = "sk-stored-9c1e5a7b3d2f40e8a6b1"
ENV_KEY = "sk-env-4d0b8f2a6c1e49d3b7a5"
KEYS = (SECRET_KEY, STORED_KEY, ENV_KEY)


def test_no_key_in_any_output_or_file_but_the_key_store(server: FakeServer, user_dirs: UserDirs) -> None:
    glm46 = FIXTURES / "glm-stream-content-glm46.sse"
    for _ in range(6):
        server.add(Reply.sse_file(glm46))
    server.add(Reply.error(401, load_json("kimi-error-invalid-authentication.json")))
    url = ["--base-url", server.base_url]
    steps: list[tuple[list[str], dict[str, str], str | None]] = [
        (["keys", "set", "kimi"], {}, STORED_KEY + "\n"),
        (["keys", "list"], {}, None),
        (["keys", "path"], {}, None),
        (["chat", "hi", "-m", "glm-4.6", "--api-key", SECRET_KEY, *url], {}, None),
        (["chat", "hi", "-m", "glm-4.6", "--json", *url], {"ZAI_API_KEY": ENV_KEY}, None),
        (["chat", "hi", "-m", "glm-4.6", "--jsonl", "-u", *url], {"ZAI_API_KEY": ENV_KEY}, None),
        (["chat", "-i", "-m", "glm-4.6", "--debug", *url], {"ZAI_API_KEY": ENV_KEY}, "/help\nhi\n/model glm-4.5\nhi\n"),
        (["chat", "-c", "more", "--debug", *url], {"ZAI_API_KEY": ENV_KEY}, None),
        (["chat", "hi", "-m", "kimi-k2-0905-preview", "--max-retries", "0", "--debug", *url], {}, None),
        (["chat", "hi", "-m", "glm-4.6", "--apikey", SECRET_KEY], {}, None),  # a usage error echoing argv
        (["logs", "-n", "0"], {}, None),
        (["logs", "-n", "0", "--json"], {}, None),
        (["providers"], {"ZAI_API_KEY": ENV_KEY}, None),
        (["providers", "--json"], {"ZAI_API_KEY": ENV_KEY}, None),
        (["models", "--json"], {"ZAI_API_KEY": ENV_KEY}, None),
        (["models", "default", "glm-4.6"], {}, None),
    ]
    codes = []
    for args, env, stdin in steps:
        result = run(args, env=env, stdin=stdin)
        codes.append(result.returncode)
        for key in KEYS:
            assert key not in result.stdout, (args, key)
            assert key not in result.stderr, (args, key)
    assert codes == [0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 0, 0]
    assert len(server.requests) == 7  # every chat reached the server (the usage error did not)
    files = [path for path in user_dirs.home.parent.rglob("*") if path.is_file()]
    assert user_dirs.keys in files and user_dirs.log in files
    for path in files:
        data = path.read_bytes()
        for key in KEYS:
            if path == user_dirs.keys and key == STORED_KEY:
                continue
            assert key.encode() not in data, (path, key)


@pytest.mark.parametrize(
    ("platform", "environ", "data", "config"),
    [
        ("linux", {"HOME": "/h"}, "/h/.local/share/chatplug", "/h/.config/chatplug"),
        ("linux", {"HOME": "/h", "XDG_DATA_HOME": "/d", "XDG_CONFIG_HOME": "/c"}, "/d/chatplug", "/c/chatplug"),
        # the XDG spec: a relative path is invalid and ignored
        ("linux", {"HOME": "/h", "XDG_DATA_HOME": "rel"}, "/h/.local/share/chatplug", "/h/.config/chatplug"),
        ("darwin", {"HOME": "/h"}, "/h/Library/Application Support/chatplug",
         "/h/Library/Application Support/chatplug"),
        ("darwin", {"HOME": "/h", "XDG_DATA_HOME": "/d"}, "/d/chatplug", "/h/Library/Application Support/chatplug"),
        ("win32", {"USERPROFILE": "/u", "LOCALAPPDATA": "/la", "APPDATA": "/ra"}, "/la/chatplug", "/ra/chatplug"),
        ("win32", {"USERPROFILE": "/u"}, "/u/AppData/Local/chatplug", "/u/AppData/Roaming/chatplug"),
        ("linux", {"HOME": "/h", "CHATPLUG_DATA_DIR": "/x", "CHATPLUG_CONFIG_DIR": "/y"}, "/x", "/y"),
    ],
)
def test_data_and_config_directories_follow_the_platform(
    platform: str, environ: dict[str, str], data: str, config: str
) -> None:
    from chatplug._cli._paths import config_dir, data_dir

    assert data_dir(environ, platform) == Path(data)
    assert config_dir(environ, platform) == Path(config)
