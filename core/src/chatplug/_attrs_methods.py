"""``==``, ``hash()`` and ``repr()`` of the attrs classes every call uses, written once.

attrs writes the source of ``__eq__``, ``__hash__`` and ``__repr__`` for each
class and compiles it when the class is created. For the classes a first
completion needs (the reply side of :mod:`chatplug.types` and the provider
records ``Provider``, ``Limits``, ``Range``, ``ModelInfo``, ``ModelCatalog``),
that compiling is about 1.5 ms of a fresh process's start-up (issue 12):
``repr`` alone, with its f-string, costs more to compile than ``__init__``.

These classes are built with ``eq=False, repr=False`` and inherit the methods
below instead, which read the same per-field options attrs' generated methods
read (``eq``, ``eq_key``, ``hash``, ``repr=False`` or a callable, ``init``).
attrs still builds everything else: ``__init__``, slots, validators,
converters, ``attr.fields``, ``attr.evolve``. The behaviour is attrs': the
same output, the same comparisons, the same ``"..."`` for a reference cycle;
``tests/core/test_core_attrs_methods.py`` checks it class by class against the
methods attrs generates.
"""

import functools
import threading
from typing import Any

import attr

__all__ = ["ValueObject", "FrozenValueObject"]

#: The objects whose ``repr()`` is under way in this thread (attrs' guard against cycles).
_repr_running = threading.local()


# The per-class field lists, made once per class (classes live as long as the process).


@functools.cache
def _eq_fields(cls: type) -> tuple[tuple[str, Any], ...]:
    """(name, eq key or None) of the fields ``==`` compares, in order."""
    return tuple((field.name, field.eq_key) for field in attr.fields(cls) if field.eq)


@functools.cache
def _hash_fields(cls: type) -> tuple[tuple[str, Any], ...]:
    """(name, eq key or None) of the fields ``hash()`` covers, in order."""
    return tuple(
        (field.name, field.eq_key) for field in attr.fields(cls) if (field.eq if field.hash is None else field.hash)
    )


@functools.cache
def _repr_fields(cls: type) -> tuple[tuple[str, Any, bool], ...]:
    """(name, formatter, set by ``__init__``) of the fields ``repr()`` shows, in order."""
    return tuple(
        (field.name, repr if field.repr is True else field.repr, field.init)
        for field in attr.fields(cls)
        if field.repr is not False
    )


def _equal(self: Any, other: object) -> Any:
    """attrs' ``__eq__``: ``NotImplemented`` for another class, else
    ``self.a == other.a and self.b == other.b and ...`` over the compared fields."""
    compared = _eq_fields(self.__class__)
    if other.__class__ is not self.__class__:
        return NotImplemented
    result: Any = True
    for name, key in compared:
        mine, theirs = getattr(self, name), getattr(other, name)
        result = mine == theirs if key is None else key(mine) == key(theirs)
        if not result:
            break
    return result


def _hash(self: Any) -> int:
    """attrs' ``__hash__`` of a frozen class: the class and the hashed fields' values
    (through the field's ``eq`` key where it has one, so equal objects hash alike)."""
    cls = self.__class__
    return hash(
        (cls, *(getattr(self, name) if key is None else key(getattr(self, name)) for name, key in _hash_fields(cls)))
    )


def _show(self: Any) -> str:
    """attrs' ``__repr__``: ``Name(field=value, ...)``, ``...`` for an object already being shown."""
    running: set[int] | None = getattr(_repr_running, "ids", None)
    if running is None:
        running = _repr_running.ids = set()
    if id(self) in running:
        return "..."
    running.add(id(self))
    try:
        cls = self.__class__
        shown = ", ".join(
            f"{name}={show(getattr(self, name) if init else getattr(self, name, attr.NOTHING))}"
            for name, show, init in _repr_fields(cls)
        )
        return f"{cls.__qualname__.rsplit('>.', 1)[-1]}({shown})"
    finally:
        running.discard(id(self))


class ValueObject:
    """Base of mutable attrs classes built with ``eq=False, repr=False``: they
    compare and print by value as attrs would make them, and are unhashable."""

    __slots__ = ()

    __eq__ = _equal
    __hash__ = None  # type: ignore[assignment]  # compared by value and mutable, as attrs leaves them
    __repr__ = _show


class FrozenValueObject(ValueObject):
    """Base of frozen attrs classes built with ``eq=False, repr=False``: as
    :class:`ValueObject`, and hashable over the fields attrs would hash."""

    __slots__ = ()

    __hash__ = _hash  # type: ignore[assignment]
