"""The short fuzz run of the default suite: a few cases of every target (see docs/fuzzing.md).

The long run is ``python benchmarks/fuzz.py --cases 100000``; this one proves the harness and
catches a parser that crashes on the first mutations.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings

from tests.fuzz.targets import TARGETS, run_case

#: Cases per target in the default suite; the long run sets its own count.
SHORT_EXAMPLES = 30


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_no_mutated_or_random_input_crashes_hangs_or_runs_code_in_the_parser(name: str) -> None:
    target = TARGETS[name]

    @settings(
        max_examples=SHORT_EXAMPLES,
        # The same cases on every run: CI must not fail on a case it happened to draw this
        # time (benchmarks/fuzz.py is where new cases are explored, and what it finds becomes
        # a regression test).
        derandomize=True,
        deadline=timedelta(seconds=10),
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(case=target.strategy())
    def fuzz(case: tuple[str, bytes]) -> None:
        run_case(target, case)

    fuzz()
