"""chatplug-otel: OpenTelemetry GenAI spans and metrics for every chatplug call.

Installed, it registers itself with chatplug (entry point ``otel`` in the
``chatplug`` group) and reports through the global OpenTelemetry tracer and
meter providers, which the app sets up with the SDK and an exporter. Without
them it runs on the API's no-op providers and costs next to nothing.

::

    import chatplug_otel
    chatplug_otel.plugin.configure(capture_content=True)   # opt in to message content

See ``docs/otel.md`` for what is emitted.
"""

from __future__ import annotations

from chatplug_otel._plugin import MAX_OPEN_CALLS, OpenTelemetryPlugin
from chatplug_otel._semconv import SCHEMA_URL
from chatplug_otel._settings import CAPTURE_ENV, LATEST_EXPERIMENTAL, STABILITY_ENV, Settings
from chatplug_otel._version import __version__

__all__ = [
    "CAPTURE_ENV",
    "LATEST_EXPERIMENTAL",
    "MAX_OPEN_CALLS",
    "OpenTelemetryPlugin",
    "SCHEMA_URL",
    "STABILITY_ENV",
    "Settings",
    "__version__",
    "plugin",
]

#: The instance the ``chatplug`` entry point registers; configure it with :meth:`OpenTelemetryPlugin.configure`.
plugin = OpenTelemetryPlugin()
