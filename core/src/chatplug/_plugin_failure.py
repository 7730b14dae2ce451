"""``chatplug.plugins.PluginFailure``, defined here and created on first use.

Part of :mod:`chatplug.plugins`, which imports this module on first access to
``PluginFailure`` or when a plugin first fails: import it from there (its
``__module__`` says so, for reprs and pickles). A process whose plugins all
load never creates the class (creating an attrs class costs about 0.25 ms).
"""

import attr

__all__ = ["PluginFailure"]


@attr.frozen
class PluginFailure:
    """A plugin that could not be loaded: its name, distribution and the error."""

    name: str
    distribution: str | None
    version: str | None
    error: str

    def __str__(self) -> str:
        source = ""
        if self.distribution:
            source = f" from {self.distribution}" + (f" {self.version}" if self.version else "")
        return f"plugin {self.name!r}{source} failed: {self.error}"


PluginFailure.__module__ = "chatplug.plugins"
