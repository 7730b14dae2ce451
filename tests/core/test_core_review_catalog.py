"""Review fixes for the catalog: a lookup is done once per model name (every
request looks its model up twice), and the memory of lookups stays bounded."""

from __future__ import annotations

import chatplug


def catalog() -> chatplug.ModelCatalog:
    base = chatplug.ModelInfo(thinking="none", tools=True)
    return chatplug.ModelCatalog(models={"acme-1": base}, families=[("acme-think-*", base.replace(thinking="always"))])


def test_a_model_is_looked_up_once_and_keeps_its_own_name() -> None:
    cat = catalog()
    first = cat.lookup("acme-think-2")
    assert cat.lookup("acme-think-2") is first
    assert (first.model, first.source, first.thinking) == ("acme-think-2", "acme-think-*", "always")
    other = cat.lookup("acme-think-3")
    assert (other.model, other.source) == ("acme-think-3", "acme-think-*")
    assert cat.lookup("nobody").source == "default"


def test_the_lookups_remembered_are_bounded() -> None:
    cat = catalog()
    for number in range(2000):
        assert cat.lookup(f"acme-think-{number}").model == f"acme-think-{number}"
    assert len(cat._looked_up) == 512
    assert cat.lookup("acme-think-1999").model == "acme-think-1999"


def test_catalogs_with_the_same_facts_are_equal_whatever_was_looked_up() -> None:
    one, two = catalog(), catalog()
    one.lookup("acme-1")
    assert one == two
