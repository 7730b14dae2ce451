"""The conformance kit's own promises (issue 11): it demands the exact error class,
and a check it cannot run for want of a declaration is a visible skip saying why."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

SUBCLASS_PLUGIN = '''
import chatplug
from chatplug.testing import ErrorSample, ProviderConformance


class Overdrawn(chatplug.QuotaExceededError):
    """A subclass: right in spirit, but not the class the sample names."""


PROVIDER = chatplug.Provider(id="sub", base_url="https://sub.invalid/v1", api_key_env=("SUB_API_KEY",),
                             models=("s-1",))


class Sub:
    @chatplug.hookimpl
    def chatplug_providers(self):
        return [PROVIDER]

    @chatplug.hookimpl
    def chatplug_map_error(self, provider, status_code, body):
        if provider.id != "sub" or status_code != 402:
            return None
        return {cls}("out of balance", status_code=402, provider="sub", body=body)


class TestSubConformance(ProviderConformance):
    provider_id = "sub"
    plugin = Sub()
    error_samples = [ErrorSample({{"error": {{"message": "top up"}}}}, status=402, error=chatplug.QuotaExceededError,
                                 retryable=False, name="balance")]
'''


@pytest.mark.parametrize(("cls", "outcome"), [("Overdrawn", "failed"), ("chatplug.QuotaExceededError", "passed")])
def test_an_error_sample_demands_the_exact_class(pytester: pytest.Pytester, cls: str, outcome: str) -> None:
    """A plugin mapping to a subclass of the declared class fails the check; the class itself passes."""
    pytester.makepyfile(test_sub=SUBCLASS_PLUGIN.format(cls=cls))
    result = pytester.runpytest("-q", "-p", "no:randomly", "-rf", "-k", "error_sample_maps")
    result.assert_outcomes(**{outcome: 1})
    if outcome == "failed":
        result.stdout.fnmatch_lines(
            ["*[[]sub[]] error sample balance (HTTP 402): mapped to Overdrawn, expected QuotaExceededError*"]
        )


BARE_PLUGIN = '''
import chatplug
from chatplug.testing import ProviderConformance

PROVIDER = chatplug.Provider(id="bare", base_url="https://bare.invalid/v1", api_key_env=("BARE_API_KEY",),
                             models=("b-1",))


class Bare:
    @chatplug.hookimpl
    def chatplug_providers(self):
        return [PROVIDER]


class TestBareConformance(ProviderConformance):
    provider_id = "bare"
    plugin = Bare()
'''


def test_checks_without_their_declarations_are_visible_skips_with_the_reason(pytester: pytest.Pytester) -> None:
    """No transcripts, error samples, limits or catalog: the four checks that need them are skipped, each saying
    what to declare; the checks that need nothing still run and pass."""
    pytester.makepyfile(test_bare=BARE_PLUGIN)
    result = pytester.runpytest("-q", "-p", "no:randomly", "-rs")
    result.assert_outcomes(passed=5, skipped=5)  # the transcript check is skipped for the sync and async client
    result.stdout.fnmatch_lines_random([
        "SKIPPED*TestBareConformance declares no transcripts: test_transcript_decodes did not run;"
        " add `transcripts = [[]Transcript(...)[]]`*",
        "SKIPPED*TestBareConformance declares no error samples: test_error_sample_maps did not run;"
        " add `error_samples = [[]ErrorSample(...)[]]`*",
        "SKIPPED*provider 'bare' declares no limits: test_declared_limits_enforced did not run;"
        " declare `limits=chatplug.Limits(...)` on the provider*",
        "SKIPPED*provider 'bare' declares no model catalog: test_model_catalog_is_well_formed did not run;"
        " declare `catalog=chatplug.ModelCatalog(...)` on the provider*",
    ])
