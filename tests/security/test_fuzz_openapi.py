"""Property-based fuzzing of each service's HTTP API from its own OpenAPI document.

For every operation and for each role that uses the service, schemathesis generates
requests in its three phases (the schema's examples, a coverage phase of boundary and
schema-violating values, and Hypothesis fuzzing of valid and invalid data), sends them
over real HTTP with that role's token, and checks every answer:

- no 5xx, ever (``not_a_server_error``);
- the status code, content type, headers and body are the ones the OpenAPI document
  declares for that operation (so every 401/403/404/409/413/422/429 must be documented);
- data that violates the schema is refused with a 4xx; data the schema calls valid is
  never refused by request validation (a 422 for such data must be a rule the schema
  cannot state, such as an unknown household, and carries a code);
- an operation that declares bearer auth refuses the request without it (``ignored_auth``).

Bounded: a fixed seed, derandomised generation and a small number of examples per
operation, so one run is reproducible. The services run once per module.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import schemathesis
from schemathesis.checks import load_all_checks
from schemathesis.core.result import Ok
from schemathesis.generation.feedback import FeedbackSources

# The function schemathesis' own pytest plugin builds each operation's test with; used
# directly so that one test can run an operation under several roles (schemathesis is
# pinned in pyproject.toml).
from schemathesis.pytest._test_builder import build_operation_test

from shared.settings import Settings
from tests.security.environments import Env, inventory_env, orders_env, routing_env
from tests.security.live import EnvFactory, serving
from tests.security.principals import role_credentials

pytestmark = [
    pytest.mark.slow,
    # schemathesis' own strategies, not ours
    pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning"),
]

MAX_EXAMPLES = 25
SEED = 20261120

CONFIG: dict[str, Any] = {
    "seed": SEED,
    "suppress-health-check": ["all"],
    "generation": {
        "max-examples": MAX_EXAMPLES,
        "deterministic": True,
        # The token is the role's; generated Authorization headers would only test 401s,
        # which the access matrix covers for every route.
        "with-security-parameters": False,
    },
    "phases": {"stateful": {"enabled": False}},
    # Replaced by the check below: schemathesis' own one counts every 422 for valid data
    # as a failure, also "household H-9 is not registered", which no schema can say.
    "checks": {"positive_data_acceptance": {"enabled": False}},
    "request-timeout": 30,
    "operations": [
        # A valid problem starts a real solver process for up to 60 s: only the invalid
        # bodies (schema-violating, refused before any solving) are fuzzed here.
        {"include-path": "/v1/solve", "generation": {"mode": "negative"}},
    ],
}


@schemathesis.check
def schema_valid_input_passes_validation(
    ctx: schemathesis.CheckContext, response: schemathesis.Response, case: schemathesis.Case
) -> bool | None:
    """Input the schema calls valid may break a business rule (a 422 with a ``code``),
    never request validation itself: that 422 would mean schema and code disagree."""
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive or response.status_code != 422:
        return None
    try:
        detail = response.json().get("detail")
    except ValueError:
        detail = None
    if not isinstance(detail, dict) or "code" not in detail:
        raise AssertionError(f"schema-valid input refused by request validation: {response.text[:500]}")
    return None


@dataclass(frozen=True)
class Target:
    service: str
    factory: EnvFactory
    roles: tuple[str, ...]


TARGETS = {
    "orders": Target("orders", orders_env, ("resident", "community_worker", "admin")),
    "inventory": Target("inventory", inventory_env, ("admin", "inventory_system", "dispatcher")),
    "routing": Target("routing", routing_env, ("admin", "dispatcher")),
}


@pytest.fixture(scope="module")
def live(module_settings: Settings) -> Iterator[Callable[[str], tuple[Env, str]]]:
    """Start a service on first use; keep it for the module."""
    started: dict[str, tuple[Env, str]] = {}
    with contextlib.ExitStack() as stack:

        def get(service: str) -> tuple[Env, str]:
            if service not in started:
                started[service] = stack.enter_context(serving(TARGETS[service].factory, module_settings))
            return started[service]

        yield get


def _runner(
    label: str, counts: dict[str, int], base_url: str, headers: dict[str, str]
) -> Callable[[schemathesis.Case], None]:
    def run(case: schemathesis.Case) -> None:
        counts[label] += 1
        case.call_and_validate(base_url=base_url, headers=headers)

    return run


def fuzz_operations(env: Env, base_url: str, role: str) -> tuple[dict[str, int], dict[str, str]]:
    """Run every operation's generated test; the number of cases and the failures by operation."""
    load_all_checks()
    schema = schemathesis.openapi.from_url(
        f"{base_url}/openapi.json", config=schemathesis.Config.from_dict(CONFIG)
    )
    headers = role_credentials(env.settings, role, **env.scope)
    counts: dict[str, int] = {}
    failures: dict[str, str] = {}
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), f"the OpenAPI document is invalid: {result}"
        operation = result.ok()
        label = operation.label
        counts[label] = 0
        test = build_operation_test(
            config=schema.config, operation=operation, test_func=_runner(label, counts, base_url, headers),
            given_kwargs={}, feedback=FeedbackSources(),
        )
        try:
            test()
        except (Exception, BaseExceptionGroup) as exc:  # a FailureGroup names each distinct failure
            failures[label] = str(exc)
    return counts, failures


def _cases() -> list[Any]:
    return [
        pytest.param(service, role, id=f"{service}-as-{role}")
        for service, target in TARGETS.items() for role in target.roles
    ]


@pytest.mark.parametrize(("service", "role"), _cases())
def test_the_api_keeps_its_contract_under_fuzzing(
    live: Callable[[str], tuple[Env, str]], service: str, role: str
) -> None:
    env, base_url = live(service)
    counts, failures = fuzz_operations(env, base_url, role)
    assert counts, "no operations found in the OpenAPI document"
    assert all(n > 0 for n in counts.values()), counts
    report = "\n\n".join(f"=== {label}\n{text}" for label, text in sorted(failures.items()))
    assert not failures, f"{len(failures)} operation(s) failed for {role}:\n\n{report}"
