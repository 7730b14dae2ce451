"""Fixtures: the OpenTelemetry SDK with in-memory exporters, an isolated
registry holding the test provider and a chatplug-otel plugin wired to that
SDK, a loopback FakeServer, and clients pointed at it that never really sleep."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import chatplug
import pytest
from chatplug.testing import FakeServer
from chatplug_otel import OpenTelemetryPlugin
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from otel_support import API_KEY, ProviderPlugin


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def tracer_provider(exporter: InMemorySpanExporter) -> TracerProvider:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider


@pytest.fixture
def reader() -> InMemoryMetricReader:
    return InMemoryMetricReader()


@pytest.fixture
def meter_provider(reader: InMemoryMetricReader) -> MeterProvider:
    return MeterProvider(metric_readers=[reader])


@pytest.fixture
def environ() -> dict[str, str]:
    """The environment the plugin reads (empty: every option at its default)."""
    return {}


@pytest.fixture
def plugin(
    tracer_provider: TracerProvider, meter_provider: MeterProvider, environ: dict[str, str]
) -> OpenTelemetryPlugin:
    return OpenTelemetryPlugin(tracer_provider=tracer_provider, meter_provider=meter_provider, environ=environ)


@pytest.fixture
def registry(plugin: OpenTelemetryPlugin) -> chatplug.PluginRegistry:
    reg = chatplug.PluginRegistry(load_entrypoints=False)
    reg.register(ProviderPlugin(), "test-provider")
    reg.register(plugin, "otel")
    return reg


@pytest.fixture
def server() -> Iterator[FakeServer]:
    with FakeServer() as fake:
        yield fake


def _no_sleep(seconds: float) -> None:
    return None


async def _no_async_sleep(seconds: float) -> None:
    return None


@pytest.fixture
def client(server: FakeServer, registry: chatplug.PluginRegistry) -> Iterator[chatplug.Client]:
    with chatplug.Client(provider="testprov", api_key=API_KEY, base_url=server.base_url, registry=registry) as c:
        c._sleep = _no_sleep
        yield c


@pytest.fixture
async def aclient(server: FakeServer, registry: chatplug.PluginRegistry) -> AsyncIterator[chatplug.AsyncClient]:
    async with chatplug.AsyncClient(
        provider="testprov", api_key=API_KEY, base_url=server.base_url, registry=registry
    ) as c:
        c._sleep = _no_async_sleep
        yield c
