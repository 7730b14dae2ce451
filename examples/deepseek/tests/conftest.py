"""chatplug-deepseek's tests use chatplug's pytest plugin (fixtures: fake_server,
chatplug_registry, chatplug_env)."""

pytest_plugins = ["chatplug.testing"]
