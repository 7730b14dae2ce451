"""Wire JSON <-> the contract's attrs objects, and the public cattrs converter.

Structuring is strict about types (a string field gets a string, never a
``str()`` of something else) and lax about presence (missing fields take their
defaults, unknown fields are kept). Each contract class gets one generated,
straight-line structuring function that also remembers the wire dict, which is
what lets ``to_dict()`` give back exactly what was parsed, unknown fields and
explicit nulls included.

Those functions need no cattrs: the hooks of the contract's own field types
live in this module (:func:`structure_hook`), so a process that only sends
requests and reads replies never imports cattrs (about 15 ms of start-up).
:data:`converter`, the cattrs converter third parties may extend, is built on
first access with the same hooks; once it exists, every structuring goes
through it, so a hook registered on it is honoured everywhere.
"""

from __future__ import annotations

import builtins
import importlib
import zlib
from collections.abc import Callable
from types import CodeType, FunctionType, UnionType
from typing import TYPE_CHECKING, Any, ForwardRef, TypeVar, Union, cast, get_args, get_origin

import attr

from chatplug import types as t
from chatplug.errors import APIResponseValidationError

if TYPE_CHECKING:
    import cattrs

    #: The project's cattrs converter (built on first access). Third parties may register hooks for their own types.
    converter: cattrs.Converter

__all__ = [
    "converter",
    "from_dict",
    "to_dict",
    "extra_fields",
    "chunk_structurer",
    "structure_completion",
    "structure_hook",
]

T = TypeVar("T")

Hook = Callable[[Any, Any], Any]

#: The contract's own hooks, by type; filled on first use of each type.
_HOOKS: dict[Any, Hook] = {}
#: The cattrs converter once built (see :func:`_cattrs_converter`).
_converter: cattrs.Converter | None = None


class _WrongType(TypeError):
    """A wire value of the wrong JSON type (internal; surfaces as APIResponseValidationError)."""


def _expect(kind: type, name: str) -> Callable[[Any, Any], Any]:
    def check(value: Any, _: Any) -> Any:
        if type(value) is kind:
            return value
        raise _WrongType(f"expected {name}, got {type(value).__name__} {value!r:.80}")

    return check


def _structure_int(value: Any, _: Any) -> int:
    if type(value) is int:
        return value
    if type(value) is float and value.is_integer():
        return int(value)
    raise _WrongType(f"expected an integer, got {type(value).__name__} {value!r:.80}")


def _structure_float(value: Any, _: Any) -> float:
    if type(value) is float or type(value) is int:
        return value
    raise _WrongType(f"expected a number, got {type(value).__name__} {value!r:.80}")


def _structure_any(value: Any, _: Any) -> Any:
    return value


_EXPECT_OBJECT = _expect(dict, "an object")


def _structure_content(value: Any, _: Any) -> Any:
    if value is None or type(value) is str:
        return value
    if type(value) is list:
        return [_structure_part(part) for part in value]
    raise _WrongType(f"expected a string or a list of content parts, got {type(value).__name__}")


#: Content part classes by ``type``; filled by :func:`_request_unions` (the hooks that use it come from there).
_PART_TYPES: dict[str, type] = {}


def _structure_part(part: Any) -> Any:
    if type(part) is not dict:
        raise _WrongType(f"expected a content part object, got {type(part).__name__}")
    cls = _PART_TYPES.get(part.get("type"))  # type: ignore[arg-type]
    return structure_hook(cls)(part, cls) if cls is not None else part


#: Message classes by ``role``; filled by :func:`_request_unions`.
_MESSAGE_TYPES: dict[str, type] = {}


def _structure_message(value: Any, _: Any) -> Any:
    if type(value) is not dict:
        raise _WrongType(f"expected a message object, got {type(value).__name__}")
    cls = _MESSAGE_TYPES.get(value.get("role"))  # type: ignore[arg-type]
    if cls is t.ChatCompletionMessage and type(value.get("content")) is list:
        return value  # assistant content parts: kept as the plain dict they are
    return structure_hook(cls)(value, cls) if cls is not None else value


def _structure_str_or_list(value: Any, _: Any) -> Any:
    if value is None or type(value) is str:
        return value
    if type(value) is list and all(type(item) is str for item in value):
        return value
    raise _WrongType("expected a string or a list of strings")


def _structure_str_or_dict(value: Any, _: Any) -> Any:
    if value is None or type(value) is str or type(value) is dict:
        return value
    raise _WrongType("expected a string or an object")


def _structure_content_part(value: Any, _: Any) -> Any:
    return _structure_part(value)


#: Hooks for exact types (``Union`` aliases compare equal to their spelled-out forms).
_FIXED: dict[Any, Hook] = {
    str: _expect(str, "a string"),
    bool: _expect(bool, "true or false"),
    int: _structure_int,
    float: _structure_float,
    dict[str, Any]: _EXPECT_OBJECT,
    Union[str, list[str], None]: _structure_str_or_list,
    Union[str, dict[str, Any], None]: _structure_str_or_dict,
}
#: The hooks of the request side's unions, by union; set by :func:`_request_unions`.
_UNIONS: dict[Any, Hook] | None = None


def _request_unions() -> dict[Any, Hook]:
    """The hooks for ``Content``, ``ContentPart`` and ``Message``, made on first use.

    Naming those unions creates the request side's classes, which a process
    that only reads replies never needs (see :mod:`chatplug.types`); only a
    type that is such a union (or the cattrs converter) gets here.
    """
    global _UNIONS
    if _UNIONS is None:
        _PART_TYPES.update(text=t.TextPart, image_url=t.ImageURLPart)
        _MESSAGE_TYPES.update(
            system=t.SystemMessage,
            developer=t.DeveloperMessage,
            user=t.UserMessage,
            assistant=t.ChatCompletionMessage,
            tool=t.ToolMessage,
        )
        # Bound in one step, once the tables its hooks read are filled: another thread sees all or nothing.
        _UNIONS = {t.Content: _structure_content, t.ContentPart: _structure_content_part, t.Message: _structure_message}
    return _UNIONS


def _is_plain_optional(tp: Any) -> bool:
    args = get_args(tp)
    return get_origin(tp) in (Union, UnionType) and len(args) == 2 and type(None) in args


def _make_optional_hook(tp: Any) -> Callable[[Any, Any], Any]:
    # cattrs' generic Optional handler dispatches on every call; this one
    # resolves the inner hook once, which halves the cost of a stream chunk.
    inner = next(arg for arg in get_args(tp) if arg is not type(None))
    inner_hook = structure_hook(inner)

    def structure(value: Any, _: Any) -> Any:
        return None if value is None else inner_hook(value, inner)

    return structure


def _make_list_hook(tp: Any) -> Hook:
    item_type = get_args(tp)[0]
    item_hook = structure_hook(item_type)

    def structure(value: Any, _: Any) -> Any:
        if type(value) is not list:
            raise _WrongType(f"expected a list, got {type(value).__name__} {value!r:.80}")
        return [item_hook(item, item_type) for item in value]

    return structure


def _is_wire_class(cls: Any) -> bool:
    return isinstance(cls, type) and issubclass(cls, t.WireObject) and attr.has(cls)


def _optional_inner(tp: Any) -> Any:
    """``X`` for ``X | None``; any other type unchanged."""
    if _is_plain_optional(tp):
        return next(arg for arg in get_args(tp) if arg is not type(None))
    return tp


def _field_code(cls: type, field: Any, env: dict[str, Any]) -> list[str]:
    """Straight-line code that reads, defaults and checks one field into ``v``."""
    name = field.name
    tp = _optional_inner(field.type)
    default = field.default
    lines: list[str] = []
    if default is attr.NOTHING:
        env["_bad"] = _bad_value
        where_missing = f"{cls.__name__}.{name}"
        # "else:" so the checks below run on the value, not under the "missing" branch
        lines += [f"v = o.get({name!r})", "if v is None:", f"    _bad({where_missing!r}, 'a value', v)", "else:"]
    elif isinstance(default, attr.Factory):  # type: ignore[arg-type]
        env[f"_factory_{name}"] = default.factory
        lines += [f"v = o.get({name!r})", "if v is None:", f"    v = _factory_{name}()", "else:"]
    elif default is None:
        lines += [f"v = o.get({name!r})", "if v is not None:"]
    else:
        env[f"_default_{name}"] = default
        lines += [f"v = o.get({name!r})", "if v is None:", f"    v = _default_{name}", "else:"]
    body: list[str]
    where = f"{cls.__name__}.{name}"
    if tp is str or tp is bool:
        env[f"_bad_{name}"] = _bad_value
        body = [f"if v.__class__ is not {tp.__name__}: _bad_{name}({where!r}, {tp.__name__!r}, v)"]
        env[tp.__name__] = tp
    elif tp is int:
        env["_int"] = _structure_int
        body = ["if v.__class__ is not int: v = _int(v, None)"]
    elif _is_wire_class(tp):
        env[f"_s_{name}"] = _made_on_first_call(tp, env, f"_s_{name}")
        body = [f"v = _s_{name}(v, None)"]
    elif get_origin(tp) is list and _is_wire_class(get_args(tp)[0]):
        env[f"_s_{name}"] = _made_on_first_call(get_args(tp)[0], env, f"_s_{name}")
        env["_bad_list"] = _bad_value
        body = [
            f"if v.__class__ is not list: _bad_list({where!r}, 'list', v)",
            # one choice per chunk is the common case: skip the comprehension's frame
            f"v = [_s_{name}(v[0], None)] if len(v) == 1 else [_s_{name}(item, None) for item in v]",
        ]
    elif tp is Any:
        body = ["pass"]
    else:
        env[f"_h_{name}"] = structure_hook(field.type)
        env[f"_t_{name}"] = field.type
        body = [f"v = _h_{name}(v, _t_{name})"]
    lines += ["    " + line for line in body]
    lines.append(f"self.{name} = v")
    return lines


def _made_on_first_call(cls: type, env: dict[str, Any], key: str) -> Hook:
    """A stand-in for ``structure_hook(cls)`` that, on its first call, makes the real
    hook and puts it in its place in ``env`` (the generated function's globals).

    A reply rarely holds every nested object (tool calls, token details), and
    generating a structuring function means compiling it (about 0.2 ms): only
    the ones a process meets are made. After the first call, the generated
    code calls the real hook directly.
    """

    def first_call(value: Any, _: Any) -> Any:
        hook = env[key] = structure_hook(cls)
        return hook(value, None)

    return first_call


def _bad_value(where: str, expected: str, value: Any) -> None:
    raise _WrongType(f"{where}: expected {expected}, got {type(value).__name__} {value!r:.80}")


def _needs_resolving(tp: Any) -> bool:
    """Whether ``tp`` is, or holds, an annotation still written as a string."""
    return isinstance(tp, (str, ForwardRef)) or any(_needs_resolving(arg) for arg in get_args(tp))


def structure_source(cls: type) -> tuple[str, dict[str, Any]]:
    """The source of ``cls``'s generated structuring function, and the globals it runs with.

    The source depends only on the class's fields; the globals hold the
    objects it calls (the class, defaults, the hooks of nested types).
    """
    if any(_needs_resolving(field.type) for field in attr.fields(cast(Any, cls))):
        attr.resolve_types(cast(Any, cls))  # a subclass written with string annotations
    env: dict[str, Any] = {"_cls": cls, "_new": object.__new__, "_WrongType": _WrongType}
    lines = [
        "def structure(o, _=None):",
        "    if o.__class__ is not dict:",
        f"        raise _WrongType('expected an object for {cls.__name__}, got ' + type(o).__name__)",
        "    self = _new(_cls)",
    ]
    for field in attr.fields(cast(Any, cls)):
        if field.name == "_raw":
            continue
        lines += ["    " + line for line in _field_code(cls, field, env)]
    lines += ["    self._raw = o", "    return self"]
    return "\n".join(lines), env


def source_checksum(source: str) -> int:
    """The checksum a precompiled module records for each function's source."""
    return zlib.crc32(source.encode())


#: The module holding the precompiled structuring functions of each contract
#: module's classes (written by ``core/tools/generate_structurers.py``): the
#: reply side, which every call parses, loads without the other two.
PRECOMPILED_MODULES = {
    "chatplug.types": "chatplug._precompiled_reply",
    "chatplug._stream_types": "chatplug._precompiled_stream",
    "chatplug._request_types": "chatplug._precompiled_request",
}


def contract_module(cls: type) -> str | None:
    """The module that defines contract class ``cls``, or ``None`` for any other class."""
    if cls.__module__ != "chatplug.types" or getattr(t, cls.__name__, None) is not cls:
        return None
    return t._LAZY.get(cls.__name__, "chatplug.types")


def _precompiled_code(cls: type, source: str) -> CodeType | None:
    """The code of ``cls``'s structuring function from its precompiled module,
    if it was generated from exactly ``source``; otherwise ``None``."""
    home = contract_module(cls)
    if home is None:
        return None
    module = importlib.import_module(PRECOMPILED_MODULES[home])
    function = getattr(module, "structure_" + cls.__name__, None)
    if function is None or module.CHECKSUMS.get(cls.__name__) != source_checksum(source):
        return None
    return cast(CodeType, function.__code__)


def _make_structure_hook(cls: type[T]) -> Callable[[Any, Any], T]:
    """Make the straight-line structuring function of a contract class.

    cattrs' own generated functions build a kwargs dict and call ``__init__``
    through generic hooks; a stream parses three objects per chunk, so this
    specialised version (type checks inline, slots set directly) is what keeps
    the per-chunk cost near raw ``json.loads``.

    Compiling the source costs about 0.2 ms a class. The contract's own
    classes skip it: the modules of :data:`PRECOMPILED_MODULES` hold their
    functions, compiled into the bytecode cache like any module, and one is
    used only when its recorded checksum matches the source generated now.
    Any other class (a plugin's subclass, say) is compiled here.
    """
    source, env = structure_source(cls)
    code = _precompiled_code(cls, source)
    if code is None:
        exec(compile(source, f"<chatplug structure {cls.__name__}>", "exec"), env)
        return env["structure"]  # type: ignore[no-any-return]
    return FunctionType(code, env, "structure", (None,))


def _own_hook(tp: Any) -> Hook | None:
    """The contract's hook for ``tp``, or ``None`` for a type it has none for."""
    fixed = _FIXED.get(tp)
    if fixed is not None:
        return fixed
    if tp is Any:
        return _structure_any
    if _is_plain_optional(tp):
        return _make_optional_hook(tp)
    if get_origin(tp) in (Union, UnionType):
        return _request_unions().get(tp)
    if _is_wire_class(tp):
        return _make_structure_hook(tp)
    if get_origin(tp) is list and len(get_args(tp)) == 1:
        return _make_list_hook(tp)
    return None


def structure_hook(tp: Any) -> Hook:
    """The function that structures wire data into ``tp``: ``hook(data, tp)``.

    The contract's own hooks, made once per type; any other type, or any type
    once :data:`converter` has been built, goes through the cattrs converter.
    """
    if _converter is not None:
        return _converter.get_structure_hook(tp)
    hook = _HOOKS.get(tp)
    if hook is None:
        hook = _own_hook(tp)
        if hook is None:
            return _cattrs_converter().get_structure_hook(tp)
        _HOOKS[tp] = hook
    return hook


def _cattrs_converter() -> cattrs.Converter:
    """Build the public cattrs converter with the contract's hooks (once)."""
    global _converter
    if _converter is None:
        import cattrs

        made = cattrs.Converter(detailed_validation=False, forbid_extra_keys=False)
        for tp, hook in {**_FIXED, **_request_unions()}.items():
            if get_origin(tp) is dict:  # not a class: functools.singledispatch refuses it
                made.register_structure_hook_func(_equals(tp), hook)
            else:
                made.register_structure_hook(tp, hook)
        made.register_structure_hook_func(lambda tp: tp is Any, _structure_any)
        # The contract's generated functions: the same objects structure_hook() made or will make.
        made.register_structure_hook_factory(_is_plain_optional, lambda tp: _HOOKS.get(tp) or _make_optional_hook(tp))
        made.register_structure_hook_factory(_is_wire_class, lambda cls: _HOOKS.get(cls) or _make_structure_hook(cls))
        made.register_unstructure_hook_func(_is_wire_class, to_dict)
        _converter = made
    return _converter


def _equals(tp: Any) -> Callable[[Any], bool]:
    def predicate(other: Any) -> bool:
        return bool(other == tp)

    return predicate


def __getattr__(name: str) -> Any:
    """``converter`` is built on first access (PEP 562)."""
    if name == "converter":
        return _cattrs_converter()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# ------------------------------------------------------------------ unstructure


_Plan = tuple[tuple[str, bool, Any], ...]


def _plan(cls: type) -> _Plan:
    """(wire name, emit null when built in Python, default) per field."""
    plan = []
    for a in attr.fields(cls):
        if a.name == "_raw":
            continue
        default = a.default
        if isinstance(default, attr.Factory):  # type: ignore[arg-type]
            default = default.factory()
        plan.append((a.name, bool(a.metadata.get(t.EMIT_NULL)), default))
    return tuple(plan)


_PLANS: dict[type, _Plan] = {}
_KNOWN: dict[type, frozenset[str]] = {}


def _plan_for(cls: type) -> _Plan:
    plan = _PLANS.get(cls)
    if plan is None:
        plan = _PLANS[cls] = _plan(cls)
        _KNOWN[cls] = frozenset(name for name, _, _ in plan)
    return plan


def _unstructure_value(value: Any) -> Any:
    if isinstance(value, t.WireObject):
        return to_dict(value)
    if type(value) is list:
        return [_unstructure_value(item) for item in value]
    if type(value) is dict:
        return {key: _unstructure_value(item) for key, item in value.items()}
    return value


def to_dict(obj: t.WireObject) -> dict[str, Any]:
    """Return ``obj`` as OpenAI wire JSON.

    Fields parsed from the wire come back as they were: absent stays absent,
    ``null`` stays ``null``, unknown fields are written back unchanged.
    """
    cls = type(obj)
    plan = _plan_for(cls)
    raw = obj._raw
    out: dict[str, Any] = {}
    for name, emit_null, default in plan:
        value = getattr(obj, name)
        if raw is not None and (value is None or value == default):
            if name not in raw:
                continue  # absent on the wire and untouched since: stays absent
            if raw[name] is None:
                out[name] = None  # an explicit null that parsing replaced by the default
                continue
        if value is None and raw is None and not emit_null:
            continue
        out[name] = _unstructure_value(value)
    if raw is not None:
        known = _KNOWN[cls]
        for key, value in raw.items():
            if key not in known:
                out[key] = value
    return out


def extra_fields(obj: t.WireObject) -> dict[str, Any]:
    """The wire fields of ``obj`` that its class does not name."""
    raw = obj._raw
    if not raw:
        return {}
    _plan_for(type(obj))
    known = _KNOWN[type(obj)]
    return {key: value for key, value in raw.items() if key not in known}


# ---------------------------------------------------------------- entry points


def from_dict(data: Any, cls: type[T]) -> T:
    """Parse wire JSON ``data`` into contract class ``cls``.

    Raises :class:`chatplug.APIResponseValidationError` when the data does not
    fit, naming the class and what was wrong.
    """
    try:
        return structure_hook(cls)(data, cls)  # type: ignore[no-any-return]
    except STRUCTURE_ERRORS as exc:
        raise APIResponseValidationError(f"malformed {cls.__name__} data: {exc}", body=data) from exc


def _exception_group() -> type[Exception]:
    """``ExceptionGroup``: built in from Python 3.11; on 3.10 the backport cattrs depends on."""
    group = getattr(builtins, "ExceptionGroup", None)
    if group is None:
        try:
            group = importlib.import_module("exceptiongroup").ExceptionGroup
        except ImportError:  # then cattrs raises none either
            group = _WrongType
    return cast("type[Exception]", group)


_ExceptionGroup = _exception_group()

#: What a generated structure function may raise on data that does not fit
#: (cattrs' validation errors are exception groups).
STRUCTURE_ERRORS = (TypeError, ValueError, KeyError, AttributeError, _ExceptionGroup)


def chunk_structurer() -> Callable[[Any, Any], t.ChatCompletionChunk]:
    """The generated function that parses one stream chunk (made on first use, then cached by cattrs).

    It raises one of :data:`STRUCTURE_ERRORS` on bad data; a stream resolves it
    once and calls it per chunk, the hot path.
    """
    return structure_hook(t.ChatCompletionChunk)


def structure_completion(data: Any) -> t.ChatCompletion:
    """Parse a whole (non-stream) completion."""
    try:
        return structure_hook(t.ChatCompletion)(data, None)  # type: ignore[no-any-return]
    except STRUCTURE_ERRORS as exc:
        raise APIResponseValidationError(f"malformed completion: {exc}", body=data) from exc
