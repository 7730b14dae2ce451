"""``==``, ``hash()`` and ``repr()`` of the contract classes and provider records.

They are built with ``eq=False, repr=False`` and inherit these methods from
``chatplug._attrs_methods`` (attrs compiles each generated method per class, a
cost every fresh process paid). These tests pin down that the behaviour is the
one attrs generates: each class is compared with a twin whose methods attrs
made from the same fields.
"""

from __future__ import annotations

import copy
import threading
from typing import Any

import attrs
import chatplug
import pytest
from chatplug import types as t
from chatplug._attrs_methods import FrozenValueObject, ValueObject
from chatplug.catalog import ModelCatalog, ModelInfo
from chatplug.provider import Limits, Provider, Range

RECORDS = (ModelInfo, ModelCatalog, Range, Limits, Provider)


def _contract_classes() -> list[type]:
    return [cls for cls in (getattr(t, name) for name in t.__all__) if isinstance(cls, type)]


def _twin(cls: type) -> Any:
    """A class with ``cls``'s fields (same names and eq/hash/repr options, no converters or
    validators) whose ``__eq__``, ``__hash__`` and ``__repr__`` attrs generates, under the same name."""
    fields = {a.name: attrs.field(default=None, eq=a.eq, hash=a.hash, repr=a.repr) for a in attrs.fields(cls)}
    frozen = issubclass(cls, FrozenValueObject)
    return attrs.make_class(cls.__name__, fields, frozen=frozen, eq=True, repr=True, slots=True)


def _sample(cls: type) -> Any:
    """An instance of ``cls`` with a distinct string stored in every field (set past
    converters and validators: the methods under test only read what is stored)."""
    obj: Any = object.__new__(cls)
    for field in attrs.fields(cls):
        object.__setattr__(obj, field.name, f"value of {field.name}")
    return obj


def _changed(obj: Any, name: str) -> Any:
    """A copy of ``obj`` with another value stored in field ``name``."""
    other = copy.copy(obj)
    object.__setattr__(other, name, "another value")
    return other


def _pair(cls: type) -> tuple[Any, Any]:
    """A sample of ``cls`` and an instance of its twin holding the same stored values."""
    ours = _sample(cls)
    twin = _twin(cls)()
    for field in attrs.fields(cls):
        object.__setattr__(twin, field.name, getattr(ours, field.name))
    return ours, twin


def test_every_class_takes_the_shared_methods_and_attrs_compiled_none() -> None:
    for cls in _contract_classes():
        assert issubclass(cls, ValueObject) and not issubclass(cls, FrozenValueObject), cls
        assert {"__eq__", "__repr__", "__hash__"}.isdisjoint(cls.__dict__), cls
    for cls in RECORDS:
        assert issubclass(cls, FrozenValueObject), cls
        assert {"__eq__", "__repr__", "__hash__"}.isdisjoint(cls.__dict__), cls


def test_a_reply_prints_as_attrs_prints_it() -> None:
    completion = t.ChatCompletion(id="c1", choices=[t.Choice(message=t.ChatCompletionMessage(content="hi"))],
                                  usage=t.Usage(prompt_tokens=1))
    assert repr(completion) == (
        "ChatCompletion(id='c1', object='chat.completion', created=0, model='', choices=[Choice(index=0, "
        "message=ChatCompletionMessage(role='assistant', content='hi', reasoning_content=None, tool_calls=None, "
        "refusal=None, name=None), finish_reason=None, native_finish_reason=None, logprobs=None)], "
        "usage=Usage(prompt_tokens=1, completion_tokens=0, total_tokens=0, prompt_tokens_details=None, "
        "completion_tokens_details=None), system_fingerprint=None, service_tier=None)"
    )
    # The wire dict kept for round trips (repr=False) is not shown, nor what only it holds.
    parsed = chatplug.from_dict({"id": "c1", "choices": [], "request_id": "r-9"}, t.ChatCompletion)
    assert "_raw" not in repr(parsed) and "r-9" not in repr(parsed)


def test_a_reference_cycle_prints_as_dots_and_the_guard_is_released() -> None:
    message = t.ChatCompletionMessage(content="x")
    message.tool_calls = [message]  # type: ignore[list-item]
    expected = ("ChatCompletionMessage(role='assistant', content='x', reasoning_content=None, "
                "tool_calls=[...], refusal=None, name=None)")
    assert repr(message) == expected
    assert repr(message) == expected  # twice: the first call left nothing marked as "being shown"


def test_a_repr_that_raises_leaves_nothing_marked() -> None:
    class Loud:
        def __repr__(self) -> str:
            raise RuntimeError("no repr")

    choice = t.Choice(logprobs=Loud())
    with pytest.raises(RuntimeError, match="no repr"):
        repr(choice)
    choice.logprobs = None
    assert repr(choice).startswith("Choice(index=0, message=ChatCompletionMessage(")


@pytest.mark.parametrize("cls", [*_contract_classes(), *RECORDS], ids=lambda cls: cls.__name__)
def test_repr_and_equality_are_the_ones_attrs_generates(cls: type) -> None:
    ours, twin = _pair(cls)
    assert repr(ours) == repr(twin)
    assert "value of" in repr(ours)
    for field in attrs.fields(cls):
        ours_equal = ours == _changed(ours, field.name)
        assert ours_equal is (twin == _changed(twin, field.name)) is (not field.eq), field.name
        assert (ours != _changed(ours, field.name)) is field.eq, field.name
    assert (ours == copy.copy(ours)) is True and (ours != copy.copy(ours)) is False
    assert ours.__eq__(twin) is NotImplemented  # another class, even with the same fields and name
    assert (ours == twin) is False and (ours != twin) is True


def test_the_first_unequal_field_decides_as_in_attrs_and_chain() -> None:
    nan = float("nan")
    assert t.Choice(index=0, logprobs=nan) != t.Choice(index=0, logprobs=nan)  # "x == x" is False for NaN
    assert t.Choice(index=1) != t.Choice(index=2) and t.Choice(index=1) == t.Choice(index=1)
    assert t.Function(name="f") != t.ChoiceDeltaToolCallFunction(name="f")
    assert chatplug.from_dict({"name": "f", "x": 1}, t.Function) == t.Function(name="f")  # _raw: eq=False


def test_an_eq_key_field_is_compared_through_its_key() -> None:
    @attrs.frozen(eq=False, repr=False)
    class Named(FrozenValueObject):
        name: str = attrs.field(eq=str.lower)
        size: int = 0

    assert Named("Ab") == Named("aB") and hash(Named("Ab")) != hash(Named("Ab", 1))
    assert Named("Ab") != Named("Ab", 1) and Named("Ab") != Named("Ac")


@pytest.mark.parametrize("cls", _contract_classes(), ids=lambda cls: cls.__name__)
def test_contract_objects_are_unhashable_as_attrs_leaves_mutable_classes(cls: type) -> None:
    ours, twin = _pair(cls)
    for obj in (ours, twin):
        with pytest.raises(TypeError, match="unhashable"):
            hash(obj)


@pytest.mark.parametrize("cls", RECORDS, ids=lambda cls: cls.__name__)
def test_records_hash_over_the_fields_attrs_hashes(cls: type) -> None:
    ours, twin = _pair(cls)
    assert hash(ours) == hash(copy.copy(ours)) and len({ours, copy.copy(ours)}) == 1
    for field in attrs.fields(cls):
        hashed = field.eq if field.hash is None else field.hash
        ours_moved = hash(_changed(ours, field.name)) != hash(ours)
        twin_moved = hash(_changed(twin, field.name)) != hash(twin)
        assert ours_moved is twin_moved is hashed, field.name


def test_provider_records_compare_hash_and_print_by_value() -> None:
    provider = Provider(id="p", base_url="http://x", limits=Limits(temperature=(0, 1)))
    same = Provider(id="p", base_url="http://x", limits=Limits(temperature=Range(0, 1)), distribution="d")
    assert provider == same and hash(provider) == hash(same)  # distribution: eq=False
    assert provider != attrs.evolve(provider, base_url="http://y")
    assert repr(Range(0, 1)) == "Range(min=0, max=1)"
    assert repr(Limits(max_n=1)) == "Limits(temperature=None, top_p=None, max_stop=None, max_n=1, tool_choice=None)"
    info = ModelInfo(context_window=8, fixed={"top_p": 0.95})
    assert info == ModelInfo(context_window=8, fixed={"top_p": 0.95}) != ModelInfo(context_window=9)
    assert hash(info) == hash(ModelInfo(context_window=8, fixed={"top_p": 1}))  # fixed: hash=False
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        info.notes = "x"  # type: ignore[misc]


# The methods keep per-class field lists, made on first use. The classes below
# are created inside each test, so those lists are made there (not carried over
# from an earlier test, nor from a parent process that forked this one).


def _fresh_classes() -> tuple[Any, Any]:
    """Two classes with the same fields, made here: one with the shared methods, one
    with the methods attrs generates. Both are named as a class defined in a function
    inside a function would be, which attrs' repr shows by its last name."""

    def fields() -> dict[str, Any]:
        return {
            "name": attrs.field(eq=str.lower),  # compared through a key
            "size": attrs.field(default=0),
            "note": attrs.field(default="", eq=False),  # neither compared nor hashed
            "tags": attrs.field(default=(), hash=False),  # compared, not hashed
            "secret": attrs.field(default="", repr=False),
            "shown": attrs.field(default=0, repr=lambda value: f"<{value}>"),
            "later": attrs.field(init=False, eq=False),  # never set: attrs shows NOTHING
        }

    ours = attrs.make_class("Sample", fields(), bases=(FrozenValueObject,), frozen=True, eq=False, repr=False)
    twin = attrs.make_class("Sample", fields(), frozen=True)
    for cls in (ours, twin):
        cls.__qualname__ = "outer.<locals>.inner.<locals>.Sample"
    return ours, twin


def test_a_fresh_frozen_class_compares_hashes_and_prints_as_attrs_makes_it() -> None:
    ours, twin = _fresh_classes()
    for cls in (ours, twin):
        assert repr(cls("Ab", 2, "n", ("t",), "s", 3)) == (
            "Sample(name='Ab', size=2, note='n', tags=('t',), shown=<3>, later=NOTHING)"
        )
        same = cls("aB", 2, "other note", ("t",), "s", 3)
        assert cls("Ab", 2, "n", ("t",), "s", 3) == same and hash(cls("Ab", 2, "n", ("t",), "s", 3)) == hash(same)
        assert cls("Ab", 2) != cls("Ac", 2) and cls("Ab", 2) != cls("Ab", 3)
        assert cls("Ab", tags=("x",)) != cls("Ab", tags=("y",))
        assert hash(cls("Ab", tags=("x",))) == hash(cls("Ab", tags=("y",)))  # hash=False
        assert hash(cls("Ab", size=1)) != hash(cls("Ab", size=2))
        assert (cls("Ab") == cls("Ab")) is True and (cls("Ab") != cls("Ab")) is False
        later_set = cls("x")
        object.__setattr__(later_set, "later", 5)
        assert repr(later_set) == "Sample(name='x', size=0, note='', tags=(), shown=<0>, later=5)"
        with pytest.raises(AttributeError):
            repr(object.__new__(cls))  # a field __init__ sets, unset: attrs' repr raises too


def test_a_fresh_class_without_compared_fields_is_equal_to_its_kind() -> None:
    blank = attrs.make_class("Blank", {"note": attrs.field(default="", eq=False)}, bases=(ValueObject,),
                             eq=False, repr=False)
    assert (blank("a") == blank("b")) is True and (blank("a") != blank("b")) is False
    assert repr(blank("a")) == "Blank(note='a')"


def test_repr_works_in_a_thread_that_never_printed_one() -> None:
    ours, _ = _fresh_classes()
    shown: list[str] = []
    worker = threading.Thread(target=lambda: shown.append(repr(ours("x"))))
    worker.start()
    worker.join()
    assert shown == ["Sample(name='x', size=0, note='', tags=(), shown=<0>, later=NOTHING)"]
