"""Property-based tests over the edges (tests/fuzz_edges.py), each on a small fixed budget that fits CI.

The same properties run with a large budget in benchmarks/bench_fuzz.py (counts in BENCHMARKS.md).
"""

from __future__ import annotations

import pytest
from fuzz_edges import PROPERTIES, Property
from hypothesis import HealthCheck, given, settings


@pytest.mark.parametrize("prop", PROPERTIES, ids=[p.name for p in PROPERTIES])
def test_edge_keeps_its_contract_or_refuses_clearly(prop: Property):
    outcomes: set[str] = set()

    @settings(max_examples=prop.examples, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large])
    @given(prop.strategy)
    def check(case):
        outcomes.add(prop.check(case))

    check()
    assert any(not o.startswith("refused") and not o.startswith("constructor") for o in outcomes), outcomes  # not only refusals
