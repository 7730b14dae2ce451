"""The testing kit's own tests: pytester runs ProviderConformance in a sub-session,
and chatplug's pytest plugin supplies fake_server / chatplug_registry / chatplug_env."""

pytest_plugins = ["pytester", "chatplug.testing"]
