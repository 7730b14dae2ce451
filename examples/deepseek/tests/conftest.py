"""chatplug-deepseek's tests use chatplug's pytest plugin fixtures (fake_server,
chatplug_registry, chatplug_env).

In a project's top-level ``conftest.py`` the one-liner is
``pytest_plugins = ["chatplug.testing"]``; pytest refuses ``pytest_plugins`` in
a nested conftest like this one (it sits inside the chatplug checkout), so the
fixtures are imported instead, which works wherever the conftest lives.
"""

from chatplug.testing import chatplug_env, chatplug_registry, fake_server  # noqa: F401
