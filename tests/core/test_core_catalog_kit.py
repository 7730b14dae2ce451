"""The conformance kit's catalog checks: a malformed catalog is reported line by line,
and the refusal cases it derives are the ones the catalog declares."""

from __future__ import annotations

import chatplug
from chatplug.testing._catalog_checks import catalog_problems, refusal_cases

GOOD = chatplug.ModelInfo(context_window=1000, max_output=100, thinking="none", tools=True, json_schema=False)


def provider(catalog: chatplug.ModelCatalog, **extra: object) -> chatplug.Provider:
    options: dict[str, object] = {"models": ("k-1",), "model_prefixes": ("k-",), **extra}
    return chatplug.Provider(id="kit", base_url="https://kit.invalid/v1", catalog=catalog, **options)  # type: ignore[arg-type]


def test_a_well_formed_catalog_has_no_problems() -> None:
    catalog = chatplug.ModelCatalog(models={"k-1": GOOD}, families=[("k-2*", GOOD), ("k-*", GOOD)])
    assert catalog_problems(provider(catalog)) == []


def test_every_kind_of_mistake_is_reported() -> None:
    bad = chatplug.ModelInfo(
        context_window=100, max_output=1000, thinking="optional", fixed={"temprature": 1.0},
        unsupported={"seed": ""}, renames={"seed": "random_seed"}, reasoning_in_history=False,
    )
    catalog = chatplug.ModelCatalog(
        models={"k-1": bad, "other-1": GOOD, "k-3": GOOD.replace(fixed={"temperature": 1.5})},
        families=[("k-*", GOOD), ("k-2*", GOOD)],
    )
    problems = "\n".join(catalog_problems(provider(catalog, models=("k-1", "x-9"), model_prefixes=("k-", "x-"),
                                                   limits=chatplug.Limits(temperature=(0, 1)))))
    assert "thinking is 'optional' but thinking_default is None" in problems
    assert "max_output 1000 is above context_window 100" in problems
    assert "'temprature', which is not a create() parameter" in problems
    assert "'seed' is renamed and also fixed or unsupported" in problems
    assert "models['other-1'] is not claimed by the provider" in problems
    assert "families pattern 'k-2*' is never used: 'k-*' comes first" in problems
    assert "fixed['temperature']=1.5 is outside 0 <= temperature <= 1" in problems
    assert "declared model 'x-9' has no catalog entry" in problems


def test_refusal_cases_follow_the_catalog() -> None:
    info = GOOD.replace(tools=False, unsupported={"seed": "no"}, fixed={"n": 1}, reasoning_effort=())
    cases = refusal_cases(provider(chatplug.ModelCatalog(models={"k-1": info})))
    assert {(model, param) for model, param, _ in cases} == {
        ("k-1", "seed"), ("k-1", "n"), ("k-1", "tools"), ("k-1", "response_format"), ("k-1", "thinking"),
        ("k-1", "reasoning_effort"),
    }
    assert ("k-1", "n", {"n": 2}) in cases


def test_the_limits_check_uses_a_model_whose_catalog_leaves_the_limits_to_the_provider() -> None:
    from chatplug.testing import ProviderConformance

    pinned = GOOD.replace(fixed={"temperature": 1.0})
    catalog = chatplug.ModelCatalog(models={"k-1": pinned, "k-2": GOOD})
    limited = provider(catalog, models=("k-1", "k-2"), limits=chatplug.Limits(temperature=(0, 1)))

    class Kit(ProviderConformance):
        provider_id = "kit"

    assert Kit()._limits_model(limited) == "k-2"
    unlimited = provider(catalog, models=("k-1", "k-2"))
    assert Kit()._limits_model(unlimited) == "k-1", "no declared limit: the class's model is kept"
