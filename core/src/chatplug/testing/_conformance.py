"""``ProviderConformance``: the test class a provider plugin's author subclasses.

::

    from chatplug.testing import ErrorSample, ProviderConformance, Transcript

    class TestMyProviderConformance(ProviderConformance):
        provider_id = "myprov"
        transcripts = [Transcript("stream.sse", expected={"choices": [{"message": {"content": "Hi"}}]})]
        error_samples = [ErrorSample("out-of-balance.json", status=402, error=chatplug.QuotaExceededError,
                                     retryable=False)]

Every check runs over real loopback HTTP against a :class:`FakeServer`, in an
isolated registry holding only the plugin under test (and, for the isolation
check, a dummy provider next to it). A failed check reads as one short
paragraph saying what is wrong and what to do, with no traceback into the kit.
"""

from __future__ import annotations

import asyncio
import copy
import inspect
import json
import logging
import re
import secrets
from collections.abc import Iterator, Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any, ClassVar, NoReturn

import attr
import pytest

from chatplug._client import AsyncClient, Client
from chatplug._streaming import AsyncStream, Stream
from chatplug.errors import APIError, APIStatusError, InvalidRequestError, MissingAPIKeyError, PluginError
from chatplug.events import RequestEvent
from chatplug.hookspecs import PROJECT_NAME, hookimpl
from chatplug.plugins import ENTRY_POINT_GROUP, PluginRegistry
from chatplug.provider import Provider, Range
from chatplug.testing._fixtures import provider_env_names, scrub_environment
from chatplug.testing._server import FakeServer, Reply
from chatplug.types import ChatCompletion

__all__ = ["ErrorSample", "ProviderConformance", "Transcript"]

_ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]*$")
_TOOL_CHOICE_FORMS = ("auto", "none", "required", "function")
_MESSAGES: list[dict[str, Any]] = [{"role": "user", "content": "Hello"}]
_WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
#: (parameter name, create() keyword arguments) for one limits check.
_Case = tuple[str, dict[str, Any]]

_DUMMY = Provider(
    id="conformance-dummy",
    base_url="https://dummy.invalid/v1",
    name="a provider the plugin under test does not own",
    api_key_env=("CONFORMANCE_DUMMY_API_KEY",),
    models=("dummy-model",),
)


@attr.frozen
class Transcript:
    """A recorded response and the final completion it must decode to.

    - ``path``: an ``.sse`` stream transcript or a ``.json`` completion body,
      relative to the class's ``fixtures_dir``.
    - ``expected``: a subset of the final completion's ``to_dict()`` (every
      key given must match; lists must have the same length), or the path of a
      JSON file holding it.
    - ``model``: the model to request (default: the class's ``model``).
    - ``stream``: whether it is a stream (default: the file ends in ``.sse``).
    - ``request``: extra ``create()`` keyword arguments (``extra_body``, ...).
    """

    path: str | Path
    expected: Mapping[str, Any] | str | Path
    model: str | None = None
    stream: bool | None = None
    request: Mapping[str, Any] = attr.field(factory=dict)

    @property
    def name(self) -> str:
        """The file name, used as the test id."""
        return Path(self.path).name

    @property
    def is_stream(self) -> bool:
        """Whether this transcript is replayed as a stream."""
        return self.stream if self.stream is not None else Path(self.path).suffix == ".sse"


@attr.frozen
class ErrorSample:
    """An error response and how chatplug must classify it.

    - ``body``: the error body: a dict, or the path of a JSON (or text) file
      relative to ``fixtures_dir``.
    - ``status``: the HTTP status it arrives with; ``None`` sends it as a
      ``data: {"error": ...}`` event inside a stream.
    - ``error``: the exception class it must map to (an exact class, not a base).
    - ``retryable``: whether chatplug must retry it.
    - ``code``: the provider error code the exception must carry, if given.
    - ``headers``: response headers to send with it.
    """

    body: Mapping[str, Any] | str | Path
    status: int | None
    error: type[APIError]
    retryable: bool
    code: str | None = None
    headers: Mapping[str, str] = attr.field(factory=dict)
    name: str | None = None

    @property
    def label(self) -> str:
        """A short name for messages and test ids."""
        if self.name:
            return self.name
        if isinstance(self.body, (str, Path)):
            return Path(self.body).name
        return f"{self.error.__name__}-{self.status}"


def _fail(message: str) -> NoReturn:
    """Fail the check with ``message`` alone: no traceback, no chained exception."""
    try:
        pytest.fail(message, pytrace=False)
    except pytest.fail.Exception as failure:
        raise failure from None


def _skipped(cls: type, what: str, check: str, declaration: str) -> Any:
    """The one parameter of a check the class declares nothing for: a skip that says what to add."""
    reason = f"{cls.__name__} declares no {what}: {check} did not run; add `{declaration}` to pass the whole kit"
    return pytest.param(None, marks=pytest.mark.skip(reason=reason))


def _completion_body(model: str, content: str = "ok") -> dict[str, Any]:
    return {
        "id": "chatcmpl-conformance",
        "object": "chat.completion",
        "created": 1700000000,
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }


def mismatches(expected: Any, actual: Any, where: str = "completion") -> list[str]:
    """Where ``actual`` differs from ``expected``, read as a subset: each line
    names a path, the expected value and the value found."""
    if isinstance(expected, Mapping):
        if not isinstance(actual, Mapping):
            return [f"{where}: expected an object, got {actual!r}"]
        found: list[str] = []
        for key, value in expected.items():
            if key not in actual:
                found.append(f"{where}.{key}: missing (expected {value!r})")
            else:
                found.extend(mismatches(value, actual[key], f"{where}.{key}"))
        return found
    if isinstance(expected, list):
        if not isinstance(actual, list):
            return [f"{where}: expected a list, got {actual!r}"]
        if len(expected) != len(actual):
            return [f"{where}: expected {len(expected)} items, got {len(actual)}: {actual!r}"]
        pairs = enumerate(zip(expected, actual, strict=True))
        return [line for i, (e, a) in pairs for line in mismatches(e, a, f"{where}[{i}]")]
    if expected != actual or (type(expected) is bool and type(actual) is not bool):
        return [f"{where}: expected {expected!r}, got {actual!r}"]
    return []


def _hook_impls(registry: PluginRegistry, plugin: object, hook_name: str) -> list[Any]:
    caller = getattr(registry.pm.hook, hook_name)
    return [
        impl
        for impl in caller.get_hookimpls()
        if impl.plugin is plugin and not (impl.hookwrapper or getattr(impl, "wrapper", False))
    ]


def _call_impl(impl: Any, **kwargs: Any) -> Any:
    return impl.function(*[kwargs[name] for name in impl.argnames])


class _DummyPlugin:
    """Declares the dummy provider used by the isolation check."""

    @hookimpl
    def chatplug_providers(self) -> list[Provider]:
        return [_DUMMY]


class _EventRecorder:
    """An observer that keeps the repr of everything observers are shown."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    @hookimpl
    def chatplug_on_request(self, request: RequestEvent) -> None:
        self.seen.append(repr(request))
        self.seen.append(repr(dict(request.headers)))

    @hookimpl
    def chatplug_on_error(self, request: RequestEvent, error: APIError, will_retry: bool) -> None:
        self.seen.append(f"{error!r} {error}")

    @hookimpl
    def chatplug_on_finish(self, request: RequestEvent, completion: ChatCompletion | None,
                           error: BaseException | None) -> None:
        self.seen.append(f"{completion!r} {error!r}")


class ProviderConformance:
    """Subclass it (as ``Test...``) to check a provider plugin against chatplug's contract.

    Set on the subclass:

    - ``provider_id``: the id of the provider under test (required).
    - ``plugin``: the plugin object (module or instance); default: the
      installed entry point named ``entry_point`` (default ``provider_id``) in
      the ``chatplug`` group.
    - ``fixtures_dir``: where relative transcript and error paths live;
      default: ``fixtures/`` next to the subclass's module. A relative
      ``fixtures_dir`` is resolved against that module's folder, not the
      current directory.
    - ``transcripts``: :class:`Transcript` list; ``error_samples``:
      :class:`ErrorSample` list.
    - ``model``: the model used for generated requests (default: the first
      declared model, else the first prefix followed by ``test``).

    Checks: the provider record is valid; the auth header is built from the
    key env var; each transcript decodes to its expected final completion with
    the sync and the async client; each error sample maps to its class and
    retry decision; the plugin's hooks leave another provider's calls alone;
    the declared limits are enforced before any I/O and in-range values pass
    unchanged; the key never appears in reprs, errors, logs or observer events.
    """

    provider_id: ClassVar[str] = ""
    plugin: ClassVar[object | None] = None
    entry_point: ClassVar[str | None] = None
    fixtures_dir: ClassVar[str | Path | None] = None
    transcripts: ClassVar[Sequence[Transcript]] = ()
    error_samples: ClassVar[Sequence[ErrorSample]] = ()
    model: ClassVar[str | None] = None

    # ------------------------------------------------------------- plumbing

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        """Parametrize the transcript and error checks over the declared samples."""
        cls = type(self)
        if "transcript" in metafunc.fixturenames:
            metafunc.parametrize(
                "transcript",
                [pytest.param(t, id=t.name) for t in cls.transcripts]
                or [_skipped(cls, "transcripts", "test_transcript_decodes", "transcripts = [Transcript(...)]")],
            )
        if "error_sample" in metafunc.fixturenames:
            metafunc.parametrize(
                "error_sample",
                [pytest.param(e, id=e.label) for e in cls.error_samples]
                or [_skipped(cls, "error samples", "test_error_sample_maps", "error_samples = [ErrorSample(...)]")],
            )
        if "client_mode" in metafunc.fixturenames:
            metafunc.parametrize("client_mode", ["sync", "async"])

    def _label(self) -> str:
        return f"[{self.provider_id}]"

    def _fixture_path(self, path: str | Path) -> Path:
        path = Path(path)
        if path.is_absolute():
            return path
        # A relative fixtures_dir is relative to the test module, not to where pytest runs.
        here = Path(inspect.getfile(type(self))).parent
        return here / (self.fixtures_dir if self.fixtures_dir is not None else "fixtures") / path

    def _load_plugin(self) -> object:
        if self.plugin is not None:
            return self.plugin
        name = self.entry_point or self.provider_id
        found = [ep for ep in metadata.entry_points(group=ENTRY_POINT_GROUP) if ep.name == name]
        if not found:
            _fail(
                f"{self._label()} no entry point named {name!r} in the {ENTRY_POINT_GROUP!r} group: install the "
                f"plugin's distribution (pip install -e .), or set `plugin = <your module>` on {type(self).__name__}"
            )
        try:
            return found[0].load()
        except Exception as exc:  # noqa: BLE001 - reported as a readable failure
            _fail(f"{self._label()} importing entry point {found[0].value!r} failed: {type(exc).__name__}: {exc}")

    @pytest.fixture
    def conformance_env(
        self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, conformance_plugin: object
    ) -> pytest.MonkeyPatch:
        """The environment scrubbed of provider keys, the plugin's own env vars included."""
        declared = provider_env_names(self._registry_with(conformance_plugin).providers().values())
        scrub_environment(monkeypatch, tmp_path / "xdg-config", declared)
        return monkeypatch

    @pytest.fixture
    def conformance_plugin(self) -> object:
        """The plugin object under test."""
        if not self.provider_id:
            _fail(f"{type(self).__name__} must set provider_id = '<your provider id>'")
        return self._load_plugin()

    @pytest.fixture
    def conformance_registry(self, conformance_plugin: object, conformance_env: pytest.MonkeyPatch) -> PluginRegistry:
        """An isolated registry holding only the plugin under test."""
        return self._registry_with(conformance_plugin)

    def _registry_with(self, *plugins: object) -> PluginRegistry:
        registry = PluginRegistry(load_entrypoints=False, strict=False)
        for number, plugin in enumerate(plugins):
            name = f"conformance:{self.provider_id}" if number == 0 else f"conformance:extra{number}"
            try:
                registry.register(plugin, name)
            except PluginError as exc:
                _fail(f"{self._label()} the plugin could not be registered: {exc}")
        failures = registry.failures()
        if failures:
            _fail(f"{self._label()} the plugin failed to load: " + "; ".join(str(f) for f in failures))
        return registry

    @pytest.fixture
    def conformance_server(self) -> Iterator[FakeServer]:
        """A FakeServer for this test."""
        with FakeServer() as server:
            yield server

    def _provider(self, registry: PluginRegistry) -> Provider:
        providers = registry.providers()
        if self.provider_id not in providers:
            declared = ", ".join(sorted(providers)) or "none"
            _fail(
                f"{self._label()} the plugin declares no provider with id {self.provider_id!r} "
                f"(it declares: {declared}); return it from chatplug_providers()"
            )
        return providers[self.provider_id]

    def _model(self, provider: Provider) -> str:
        if self.model:
            return self.model
        if provider.models:
            return provider.models[0]
        if provider.model_prefixes:
            return f"{provider.model_prefixes[0]}test"
        _fail(f"{self._label()} the provider declares no models and no model_prefixes; set `model` on the class")

    def _api_key(self) -> str:
        return f"sk-conformance-{secrets.token_hex(12)}"

    def _client(self, registry: PluginRegistry, server: FakeServer, *, api_key: str | None = None,
                max_retries: int = 0) -> Client:
        client = Client(provider=self.provider_id, base_url=server.base_url, api_key=api_key,
                        max_retries=max_retries, registry=registry)
        client._sleep = lambda seconds: None
        return client

    def _async_client(self, registry: PluginRegistry, server: FakeServer, *, api_key: str | None = None,
                      max_retries: int = 0) -> AsyncClient:
        client = AsyncClient(provider=self.provider_id, base_url=server.base_url, api_key=api_key,
                             max_retries=max_retries, registry=registry)

        async def no_sleep(seconds: float) -> None:
            return None

        client._sleep = no_sleep
        return client

    # ------------------------------------------------------------- checks

    def test_provider_record_is_valid(self, conformance_registry: PluginRegistry) -> None:
        """The plugin loads cleanly and declares a well-formed provider record."""
        provider = self._provider(conformance_registry)
        problems: list[str] = []
        urls = {"base_url": provider.base_url, **{f"endpoints[{k!r}]": v for k, v in provider.endpoints.items()}}
        for name, url in urls.items():
            if not url.startswith(("http://", "https://")):
                problems.append(f"{name} {url!r} must start with https://")
            if url.rstrip("/").endswith("/chat/completions"):
                problems.append(f"{name} {url!r} must stop before /chat/completions (the core appends it)")
        if not provider.api_key_env:
            problems.append("api_key_env is empty: name the env var(s) the key is read from, e.g. ('MYPROV_API_KEY',)")
        for name in provider.api_key_env:
            if not _ENV_NAME.match(name):
                problems.append(f"api_key_env entry {name!r} is not an environment variable name (UPPER_SNAKE_CASE)")
        if provider.base_url_env is not None and not _ENV_NAME.match(provider.base_url_env):
            problems.append(f"base_url_env {provider.base_url_env!r} is not an environment variable name")
        if not provider.models and not provider.model_prefixes:
            problems.append("declares neither models nor model_prefixes: no bare model name can reach it")
        if any(not model for model in provider.models) or any(not prefix for prefix in provider.model_prefixes):
            problems.append("an entry of models or model_prefixes is empty (an empty prefix claims every model)")
        limits = provider.limits
        for name in ("temperature", "top_p"):
            allowed: Range | None = getattr(limits, name)
            if allowed and allowed.min is not None and allowed.max is not None and allowed.min > allowed.max:
                problems.append(f"limits.{name} has min {allowed.min} above max {allowed.max}")
        for name in ("max_stop", "max_n"):
            value = getattr(limits, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                problems.append(f"limits.{name}={value!r} must be a whole number >= 1")
        if limits.tool_choice is not None:
            unknown = [v for v in limits.tool_choice if v not in _TOOL_CHOICE_FORMS]
            if unknown:
                problems.append(f"limits.tool_choice has unknown values {unknown}; use {list(_TOOL_CHOICE_FORMS)}")
        if problems:
            _fail(f"{self._label()} the provider record is invalid:\n  - " + "\n  - ".join(problems))
        model = self._model(provider)
        routed, name = conformance_registry.resolve_model(f"{provider.id}/{model}")
        if routed.id != provider.id or name != model:
            _fail(f"{self._label()} '{provider.id}/{model}' routed to {routed.id!r} model {name!r}")

    def test_auth_header_from_env_var(
        self, conformance_registry: PluginRegistry, conformance_server: FakeServer, conformance_env: pytest.MonkeyPatch
    ) -> None:
        """Each key env var is sent as the declared auth header; no key is a MissingAPIKeyError naming them."""
        provider = self._provider(conformance_registry)
        model = self._model(provider)
        with self._client(conformance_registry, conformance_server) as client:
            self._check_auth_header(provider, model, client, conformance_server, conformance_env)

    def _check_auth_header(self, provider: Provider, model: str, client: Client, conformance_server: FakeServer,
                           conformance_env: pytest.MonkeyPatch) -> None:
        try:
            client.chat.completions.create(model=model, messages=_MESSAGES)
        except MissingAPIKeyError as exc:
            missing = [name for name in provider.api_key_env if name not in str(exc)]
            if missing:
                _fail(f"{self._label()} with no key set, MissingAPIKeyError should name {missing}; it says: {exc}")
        except Exception as exc:  # noqa: BLE001
            _fail(f"{self._label()} with no key set, expected MissingAPIKeyError, got {type(exc).__name__}: {exc}")
        else:
            _fail(f"{self._label()} a request was sent with no API key set; expected MissingAPIKeyError")
        if conformance_server.requests:
            _fail(f"{self._label()} a request reached the server although no key was set")
        header = provider.auth_header.lower()
        for env_name in provider.api_key_env:
            key = self._api_key()
            for other in provider.api_key_env:
                conformance_env.delenv(other, raising=False)
            conformance_env.setenv(env_name, key)
            conformance_server.add(Reply.json(_completion_body(model)))
            client.chat.completions.create(model=model, messages=_MESSAGES)
            sent = conformance_server.last_request.headers.get(header)
            wanted = f"{provider.auth_scheme} {key}" if provider.auth_scheme else key
            if sent != wanted:
                shown = None if sent is None else sent.replace(key, "<key>")
                _fail(
                    f"{self._label()} with {env_name} set, the request's {provider.auth_header} header was "
                    f"{shown!r}; expected {wanted.replace(key, '<key>')!r}"
                )

    def _replay(self, transcript: Transcript) -> Reply:
        path = self._fixture_path(transcript.path)
        if not path.is_file():
            _fail(f"{self._label()} transcript {transcript.name}: no file at {path}")
        if transcript.is_stream:
            return Reply.sse_file(path)
        return Reply.json(path.read_bytes())

    def _expected(self, transcript: Transcript) -> Mapping[str, Any]:
        if isinstance(transcript.expected, Mapping):
            return transcript.expected
        path = self._fixture_path(transcript.expected)
        try:
            loaded = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            _fail(f"{self._label()} transcript {transcript.name}: cannot read expected completion {path}: {exc}")
        if not isinstance(loaded, dict):
            _fail(f"{self._label()} transcript {transcript.name}: {path} must hold a JSON object")
        return loaded

    def _decode(self, registry: PluginRegistry, server: FakeServer, transcript: Transcript, mode: str,
                model: str) -> ChatCompletion:
        key = self._api_key()
        kwargs = dict(transcript.request)
        if mode == "sync":
            with self._client(registry, server, api_key=key) as client:
                if not transcript.is_stream:
                    completion: ChatCompletion = client.chat.completions.create(
                        model=model, messages=_MESSAGES, **kwargs
                    )
                    return completion
                sync_stream: Stream = client.chat.completions.create(
                    model=model, messages=_MESSAGES, stream=True, **kwargs
                )
                with sync_stream:
                    for _ in sync_stream:
                        pass
                    return sync_stream.get_final_completion()

        async def run() -> ChatCompletion:
            async with self._async_client(registry, server, api_key=key) as client:
                if not transcript.is_stream:
                    completion: ChatCompletion = await client.chat.completions.create(
                        model=model, messages=_MESSAGES, **kwargs
                    )
                    return completion
                stream: AsyncStream = await client.chat.completions.create(
                    model=model, messages=_MESSAGES, stream=True, **kwargs
                )
                async with stream:
                    async for _ in stream:
                        pass
                    return await stream.get_final_completion()

        return asyncio.run(run())

    def test_transcript_decodes(
        self, conformance_registry: PluginRegistry, conformance_server: FakeServer, transcript: Transcript,
        client_mode: str,
    ) -> None:
        """Each recorded transcript decodes to its expected final completion, sync and async."""
        provider = self._provider(conformance_registry)
        model = transcript.model or self._model(provider)
        expected = self._expected(transcript)
        conformance_server.add(self._replay(transcript))
        kind = "stream" if transcript.is_stream else "completion"
        try:
            final = self._decode(conformance_registry, conformance_server, transcript, client_mode, model)
        except Exception as exc:  # noqa: BLE001
            _fail(f"{self._label()} transcript {transcript.name} ({kind}, {client_mode} client) raised "
                  f"{type(exc).__name__}: {exc}")
        found = mismatches(expected, final.to_dict())
        if found:
            _fail(
                f"{self._label()} transcript {transcript.name} ({kind}, {client_mode} client) did not decode to the "
                "expected completion:\n  " + "\n  ".join(found)
            )

    def _error_body(self, sample: ErrorSample) -> Any:
        if isinstance(sample.body, Mapping):
            return dict(sample.body)
        path = self._fixture_path(sample.body)
        if not path.is_file():
            _fail(f"{self._label()} error sample {sample.label}: no file at {path}")
        text = path.read_text(encoding="utf-8")
        try:
            return json.loads(text)
        except ValueError:
            return text

    def _error_reply(self, sample: ErrorSample) -> Reply:
        body = self._error_body(sample)
        if sample.status is None:
            return Reply.sse([body], done=False, headers=dict(sample.headers))
        return Reply.error(sample.status, body, headers=dict(sample.headers))

    def _raise_sample(self, registry: PluginRegistry, server: FakeServer, sample: ErrorSample, model: str,
                      max_retries: int) -> ChatCompletion:
        with self._client(registry, server, api_key=self._api_key(), max_retries=max_retries) as client:
            if sample.status is None:
                stream: Stream = client.chat.completions.create(model=model, messages=_MESSAGES, stream=True)
                with stream:
                    for _ in stream:
                        pass
                    return stream.get_final_completion()
            completion: ChatCompletion = client.chat.completions.create(model=model, messages=_MESSAGES)
            return completion

    def test_error_sample_maps(
        self, conformance_registry: PluginRegistry, conformance_server: FakeServer, error_sample: ErrorSample
    ) -> None:
        """Each error sample maps to its exact class, code and retry decision, and is retried only if it should be."""
        provider = self._provider(conformance_registry)
        model = self._model(provider)
        where = f"{self._label()} error sample {error_sample.label} " + (
            "(inside a stream)" if error_sample.status is None else f"(HTTP {error_sample.status})"
        )
        conformance_server.add(self._error_reply(error_sample))
        try:
            self._raise_sample(conformance_registry, conformance_server, error_sample, model, max_retries=0)
        except APIError as exc:
            error: APIError = exc
        else:
            _fail(f"{where}: no error was raised; expected {error_sample.error.__name__}")
        if type(error) is not error_sample.error:
            _fail(f"{where}: mapped to {type(error).__name__}, expected {error_sample.error.__name__} ({error})")
        if error.retryable is not error_sample.retryable:
            wanted = "retryable" if error_sample.retryable else "not retryable"
            _fail(f"{where}: {type(error).__name__}.retryable is {error.retryable}; it must be {wanted}")
        if error.provider != provider.id:
            _fail(f"{where}: error.provider is {error.provider!r}, expected {provider.id!r}")
        if isinstance(error, APIStatusError):
            if error_sample.status is not None and error.status_code != error_sample.status:
                _fail(f"{where}: error.status_code is {error.status_code!r}, expected {error_sample.status}")
            if error_sample.code is not None and error.code != error_sample.code:
                _fail(f"{where}: error.code is {error.code!r}, expected {error_sample.code!r}")
        conformance_server.reset()
        conformance_server.add(self._error_reply(error_sample), Reply.json(_completion_body(model)))
        try:
            self._raise_sample(conformance_registry, conformance_server, error_sample, model, max_retries=1)
            retried = True
        except APIError:
            retried = False
        sent = len(conformance_server.requests)
        if error_sample.status is None:
            # an error inside a stream arrives after the response began: never retried, whatever `retryable` says
            if sent != 1:
                _fail(f"{where}: with max_retries=1 the stream was sent again ({sent} requests); an error inside a "
                      "stream must not be retried")
            return
        if error_sample.retryable and not (retried and sent == 2):
            _fail(f"{where}: with max_retries=1 the request was not retried ({sent} request(s) sent)")
        if not error_sample.retryable and sent != 1:
            _fail(f"{where}: with max_retries=1 the request was retried ({sent} requests sent); it must not be")

    def test_hooks_ignore_other_providers(
        self, conformance_plugin: object, conformance_env: pytest.MonkeyPatch
    ) -> None:
        """Every hook of the plugin returns None / changes nothing for a provider it does not own."""
        registry = self._registry_with(conformance_plugin, _DummyPlugin())
        self._provider(registry)
        problems: list[str] = []
        dummy = registry.provider(_DUMMY.id)
        for impl in _hook_impls(registry, conformance_plugin, "chatplug_credentials"):
            result = _call_impl(impl, provider=dummy, api_key="dummy-key", environ={})
            if result is not None:
                problems.append(f"chatplug_credentials returned {type(result).__name__} instead of None")
        for impl in _hook_impls(registry, conformance_plugin, "chatplug_prepare_payload"):
            payload: dict[str, Any] = {
                "model": "dummy-model", "temperature": 1.7, "top_p": 0.5, "stop": ["a", "b", "c", "d", "e", "f"],
                "n": 3, "tools": [copy.deepcopy(_WEATHER_TOOL)], "tool_choice": "required", "stream": True,
                "messages": [
                    {"role": "system", "content": "Be brief"},
                    {"role": "user", "content": "Hi"},
                    {"role": "assistant", "content": "Hello", "reasoning_content": "thinking",
                     "partial": True},
                ],
            }
            before = copy.deepcopy(payload)
            try:
                _call_impl(impl, provider=dummy, model="dummy-model", payload=payload)
            except Exception as exc:  # noqa: BLE001
                problems.append(f"chatplug_prepare_payload raised {type(exc).__name__}: {exc}")
                continue
            if payload != before:
                changed = sorted(k for k in set(payload) | set(before) if payload.get(k) != before.get(k))
                problems.append(f"chatplug_prepare_payload changed the payload (keys {changed})")
        for impl in _hook_impls(registry, conformance_plugin, "chatplug_response_normalizer"):
            for stream in (False, True):
                result = _call_impl(impl, provider=dummy, model="dummy-model", stream=stream)
                if result is not None:
                    problems.append(f"chatplug_response_normalizer(stream={stream}) returned "
                                    f"{type(result).__name__} instead of None")
        bodies: list[tuple[int | None, Any]] = [
            (429, {"error": {"message": "Rate limit reached", "type": "rate_limit_reached_error", "code": "1302"}}),
            (500, {"error": {"message": "boom", "type": "server_error"}}),
            (400, {"error": {"message": "bad", "type": "invalid_request_error", "code": "1210"}}),
        ]
        bodies += [(s.status, self._error_body(s)) for s in self.error_samples]
        for impl in _hook_impls(registry, conformance_plugin, "chatplug_map_error"):
            for status, body in bodies:
                result = _call_impl(impl, provider=dummy, status_code=status, body=body, headers={})
                if result is not None:
                    problems.append(f"chatplug_map_error(status={status}) returned {type(result).__name__}")
                    break
        if problems:
            _fail(
                f"{self._label()} hooks act on provider {dummy.id!r}, which this plugin does not own. A hook that "
                "receives `provider` must return None for other ids (`if provider.id != ...: return None`):\n  - "
                + "\n  - ".join(problems)
            )

    def test_other_provider_calls_unchanged(self, conformance_plugin: object, conformance_env: pytest.MonkeyPatch,
                                            conformance_server: FakeServer) -> None:
        """End to end: a call to another provider sends and decodes exactly as without this plugin."""
        alone = self._registry_with(_DummyPlugin())
        together = self._registry_with(conformance_plugin, _DummyPlugin())
        self._provider(together)
        sent: list[tuple[Any, str | None]] = []
        results: list[Any] = []
        replays = [Reply.json(_completion_body("dummy-model", "plain"))]
        replays += [self._replay(t) for t in self.transcripts]
        for registry in (alone, together):
            for reply in replays:
                conformance_server.add(reply)
                with Client(provider=_DUMMY.id, base_url=conformance_server.base_url, api_key="dummy-key",
                            max_retries=0, registry=registry) as client:
                    stream = reply.chunks is not None
                    try:
                        if stream:
                            with client.chat.completions.create(model="dummy-model", messages=_MESSAGES,
                                                                stream=True, temperature=1.5) as chunks:
                                for _ in chunks:
                                    pass
                                results.append(chunks.get_final_completion().to_dict())
                        else:
                            results.append(client.chat.completions.create(
                                model="dummy-model", messages=_MESSAGES, temperature=1.5).to_dict())
                    except Exception as exc:  # noqa: BLE001
                        results.append(f"{type(exc).__name__}: {exc}")
                request = conformance_server.last_request
                sent.append((request.json(), request.headers.get("authorization")))
        half = len(replays)
        for index in range(half):
            what = "the plain completion" if index == 0 else f"transcript {self.transcripts[index - 1].name}"
            if sent[index] != sent[half + index]:
                _fail(f"{self._label()} with this plugin installed, a request to another provider for {what} "
                      f"changed: {sent[index]!r} became {sent[half + index]!r}")
            if results[index] != results[half + index]:
                _fail(f"{self._label()} with this plugin installed, another provider's response ({what}) decoded "
                      f"differently:\n  without: {results[index]!r}\n  with:    {results[half + index]!r}")

    def _limit_cases(self, provider: Provider) -> tuple[list[_Case], list[_Case]]:
        """(requests that must be rejected, requests at the edge that must pass unchanged), by parameter."""
        limits = provider.limits
        rejected: list[_Case] = []
        accepted: list[_Case] = []
        for name in ("temperature", "top_p"):
            allowed: Range | None = getattr(limits, name)
            if allowed is None:
                continue
            if allowed.max is not None:
                rejected.append((name, {name: allowed.max + 0.5}))
                accepted.append((name, {name: allowed.max}))
            if allowed.min is not None:
                rejected.append((name, {name: allowed.min - 0.5}))
        if limits.max_stop is not None:
            rejected.append(("stop", {"stop": [f"stop{i}" for i in range(limits.max_stop + 1)]}))
            accepted.append(("stop", {"stop": [f"stop{i}" for i in range(limits.max_stop)]}))
        if limits.max_n is not None:
            warm: dict[str, Any] = {}
            if limits.temperature is not None and limits.temperature.max:
                warm["temperature"] = limits.temperature.max
            rejected.append(("n", {"n": limits.max_n + 1, **warm}))
            accepted.append(("n", {"n": limits.max_n, **warm}))
        if limits.tool_choice is not None:
            for form in _TOOL_CHOICE_FORMS:
                value: Any = {"type": "function", "function": {"name": "get_weather"}} if form == "function" else form
                case = ("tool_choice", {"tool_choice": value, "tools": [copy.deepcopy(_WEATHER_TOOL)]})
                (accepted if form in limits.tool_choice else rejected).append(case)
        return rejected, accepted

    def test_declared_limits_enforced(
        self, conformance_registry: PluginRegistry, conformance_server: FakeServer
    ) -> None:
        """Values outside the declared limits fail before any I/O; values at the edge are sent unchanged."""
        provider = self._provider(conformance_registry)
        model = self._limits_model(provider)
        rejected, accepted = self._limit_cases(provider)
        if not rejected and not accepted:
            pytest.skip(f"provider {provider.id!r} declares no limits: test_declared_limits_enforced did not run; "
                        "declare `limits=chatplug.Limits(...)` on the provider to pass the whole kit")
        with self._client(conformance_registry, conformance_server, api_key=self._api_key()) as client:
            self._check_limits(provider, model, client, conformance_server, rejected, accepted)

    def _limits_model(self, provider: Provider) -> str:
        """The model for the limits check: the class's model, unless its catalog record pins or refuses
        a limited parameter (then the first catalog model that does not), so the provider's own limits decide."""
        model = self._model(provider)
        limits = provider.limits
        limited = {name for name in ("temperature", "top_p") if getattr(limits, name) is not None}
        limited |= {"stop"} if limits.max_stop is not None else set()
        limited |= {"n", "temperature"} if limits.max_n is not None else set()
        limited |= {"tool_choice", "tools"} if limits.tool_choice is not None else set()

        def free(name: str) -> bool:
            info = provider.model_info(name)
            pinned = set(info.fixed) | set(info.unsupported) | set(info.ranges)
            return not limited & pinned and ("tools" not in limited or info.tools is not False)

        if free(model):
            return model
        return next((name for name in provider.catalog.models if free(name)), model)

    def _check_limits(self, provider: Provider, model: str, client: Client, conformance_server: FakeServer,
                      rejected: list[tuple[str, dict[str, Any]]], accepted: list[tuple[str, dict[str, Any]]]) -> None:
        for param, kwargs in rejected:
            value = kwargs[param]
            try:
                client.chat.completions.create(model=model, messages=_MESSAGES, **kwargs)
            except InvalidRequestError as exc:
                text = str(exc)
                if exc.param != param or provider.id not in text:
                    _fail(f"{self._label()} {param}={value!r}: the InvalidRequestError should name the parameter "
                          f"{param!r} and the provider {provider.id!r}; got param={exc.param!r}: {text}")
            except Exception as exc:  # noqa: BLE001
                _fail(f"{self._label()} {param}={value!r} breaks the declared limits; expected InvalidRequestError, "
                      f"got {type(exc).__name__}: {exc}")
            else:
                _fail(f"{self._label()} {param}={value!r} breaks the declared limits but was sent")
            if conformance_server.requests:
                _fail(f"{self._label()} {param}={value!r} reached the server: limits must be checked before any I/O")
        for param, kwargs in accepted:
            conformance_server.add(Reply.json(_completion_body(model)))
            try:
                client.chat.completions.create(model=model, messages=_MESSAGES, **kwargs)
            except Exception as exc:  # noqa: BLE001
                _fail(f"{self._label()} {kwargs!r} is within the declared limits but failed: "
                      f"{type(exc).__name__}: {exc}")
            body = conformance_server.last_request.json()
            if body.get(param) != kwargs[param]:
                _fail(f"{self._label()} {param}={kwargs[param]!r} is within the declared limits but was sent as "
                      f"{body.get(param)!r}: nothing may be changed silently")

    def test_key_never_leaks(
        self, conformance_plugin: object, conformance_env: pytest.MonkeyPatch, conformance_server: FakeServer,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        """The API key appears in no repr, error message, log record or observer event."""
        recorder = _EventRecorder()
        registry = self._registry_with(conformance_plugin, recorder)
        provider = self._provider(registry)
        model = self._model(provider)
        key = self._api_key()
        if provider.api_key_env:
            conformance_env.setenv(provider.api_key_env[0], key)
        caplog.set_level(logging.DEBUG, logger=PROJECT_NAME)
        seen: list[tuple[str, str]] = []
        echo = {"error": {"message": f"Incorrect API key provided: {key}", "type": "invalid_authentication_error",
                          "code": "invalid_api_key"}}
        cases: list[tuple[str, list[Reply], bool, int]] = [
            ("success", [Reply.json(_completion_body(model))], False, 0),
            ("401 error", [Reply.error(401, echo)], False, 0),
            ("503 then 500 error", [Reply.retry_later(503, 0, echo), Reply.error(500, echo)], False, 1),
            ("error inside a stream", [Reply.sse([{"error": echo["error"]}], done=False)], True, 0),
            ("reply that is not JSON", [Reply.error(200, f"Incorrect API key provided: {key}")], False, 0),
            ("malformed stream event", [Reply.sse([f"data: {{{key}\n\n"], done=False)], True, 0),
        ]
        for label, replies, stream, retries in cases:
            conformance_server.reset()
            conformance_server.add(*replies)
            with Client(provider=self.provider_id, base_url=conformance_server.base_url,
                        api_key=key, max_retries=retries, registry=registry) as client:
                client._sleep = lambda seconds: None
                seen.append(("repr(client)", repr(client)))
                self._leak_case(client, model, label, stream, seen)
        seen += [(f"log record {r.name}:{r.levelname}", r.getMessage()) for r in caplog.records]
        seen += [("an observer event", text) for text in recorder.seen]
        leaks = [where for where, text in seen if key in text]
        if leaks:
            _fail(f"{self._label()} the API key appears in: " + ", ".join(dict.fromkeys(leaks)))

    def _leak_case(self, client: Client, model: str, label: str, stream: bool, seen: list[tuple[str, str]]) -> None:
        """Make one call of the key-leak check, recording every text it produced in ``seen``."""
        try:
            if stream:
                with client.chat.completions.create(model=model, messages=_MESSAGES, stream=True) as chunks:
                    seen.append(("repr(stream)", repr(chunks)))
                    for _ in chunks:
                        pass
            else:
                seen.append(("repr(completion)", repr(client.chat.completions.create(
                    model=model, messages=_MESSAGES))))
        except APIError as exc:
            seen.append((f"str(error) for the {label}", str(exc)))
            seen.append((f"repr(error) for the {label}", repr(exc)))
            seen.append((f"error.args for the {label}", repr(exc.args)))
        else:
            if label != "success":
                _fail(f"{self._label()} the {label} reply did not raise")

    def test_model_catalog_is_well_formed(
        self, conformance_registry: PluginRegistry, conformance_server: FakeServer
    ) -> None:
        """The provider's model catalog is well-formed data, and the core refuses, before any I/O,
        what the catalog says each model refuses."""
        from chatplug.testing._catalog_checks import catalog_problems, refusal_cases

        provider = self._provider(conformance_registry)
        if not provider.catalog:
            pytest.skip(f"provider {provider.id!r} declares no model catalog: test_model_catalog_is_well_formed did "
                        "not run; declare `catalog=chatplug.ModelCatalog(...)` on the provider to pass the whole kit")
        problems = catalog_problems(provider)
        if problems:
            _fail(f"{self._label()} the model catalog is malformed:\n  - " + "\n  - ".join(problems))
        with self._client(conformance_registry, conformance_server, api_key=self._api_key()) as client:
            for model, param, kwargs in refusal_cases(provider):
                try:
                    client.chat.completions.create(model=model, messages=_MESSAGES, **kwargs)
                except InvalidRequestError as exc:
                    if exc.param != param or model not in str(exc):
                        _fail(f"{self._label()} {model} with {kwargs!r}: the InvalidRequestError should name the "
                              f"parameter {param!r} and the model; got param={exc.param!r}: {exc}")
                except Exception as exc:  # noqa: BLE001
                    _fail(f"{self._label()} {model} with {kwargs!r}: expected InvalidRequestError from the "
                          f"catalog, got {type(exc).__name__}: {exc}")
                else:
                    _fail(f"{self._label()} the catalog says {model} refuses {param}, but {kwargs!r} was sent")
                if conformance_server.requests:
                    _fail(f"{self._label()} {model} with {kwargs!r} reached the server: the catalog must be "
                          "applied before any I/O")
