"""Fixtures of the testing kit's own tests: chatplug's pytest plugin fixtures
(fake_server, chatplug_registry, chatplug_env), imported here because
``pytest_plugins`` is only allowed in the rootdir's conftest. The pytester
tests enable ``pytester`` in their own module."""

from chatplug.testing import chatplug_env, chatplug_registry, fake_server  # noqa: F401
