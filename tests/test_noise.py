"""Welch's test for "within noise": known answers, and synthetic rounds with a known truth.

Reference values were computed with SciPy 1.x (``scipy.stats.t.ppf(0.975, df)`` and
``scipy.stats.ttest_ind_from_stats(..., equal_var=False)``); SciPy is not a dependency.
"""

from __future__ import annotations

import math
import random
import statistics

import pytest

from pytest_mmbench.decide.gate import compare, parse_rules
from pytest_mmbench.decide.noise import t_critical, welch
from test_gate import record, report

SCIPY_T975 = {
    1.0: 12.706204736174696,
    1.3: 7.500529325562029,
    2.2: 3.948720749712723,
    3.9: 2.8047480113863354,
    7.817: 2.315434787563174,
    45.0: 2.014103388880846,
    200.0: 1.9718962236339088,
}


@pytest.mark.parametrize(("df", "expected"), SCIPY_T975.items())
def test_critical_t_matches_scipy(df: float, expected: float) -> None:
    assert t_critical(df) == pytest.approx(expected, rel=0.004)


def test_worked_example_matches_scipy() -> None:
    # The docs' example: 40.0 +- 3.0 tok/s over 5 rounds, then 34.0 +- 3.5 over 5.
    test = welch(40.0, 3.0, 5, 34.0, 3.5, 5)
    assert test.t == pytest.approx(-2.9104275004359956)  # scipy's statistic
    assert test.df == pytest.approx(7.817149, rel=1e-6)
    assert test.standard_error == pytest.approx(math.sqrt(9 / 5 + 3.5**2 / 5))
    assert not test.within_noise


def test_constructed_example_fails_the_old_formula_and_passes_the_new() -> None:
    old = report(record("e", "qa", output_tok_s=(40.0, 3.0, 5)))
    new = report(record("e", "qa", output_tok_s=(34.0, 3.5, 5)))
    # The old rule: a move within 2 * sqrt(sd1^2 + sd2^2) of the rounds is noise.
    assert abs(34.0 - 40.0) <= 2 * math.sqrt(3.0**2 + 3.5**2)  # it would have let this pass
    (row,) = compare(old, new, parse_rules("tok_s:-10%")).rows
    assert row.verdict == "FAIL"  # p = 0.02: a 15% drop over 5 rounds each is real


def test_few_rounds_leave_the_same_move_within_noise() -> None:
    old = report(record("e", "qa", output_tok_s=(40.0, 3.0, 3)))
    new = report(record("e", "qa", output_tok_s=(34.0, 3.5, 3)))
    (row,) = compare(old, new, parse_rules("tok_s:-10%")).rows
    assert row.verdict == "within noise"
    assert row.note.startswith("|t| 2.25 < 2.8") and "Welch, df 3.9" in row.note


def test_zero_spread_means_any_move_is_real() -> None:
    test = welch(40.0, 0.0, 3, 39.0, 0.0, 3)
    assert test.t is None and not test.within_noise


def _rates(shift: float, trials: int = 4000) -> tuple[float, float]:
    """Share of runs flagged as a real move by Welch and by the old rule, 5 rounds each."""
    rng = random.Random(12)
    welch_flags = old_flags = 0
    for _ in range(trials):
        a = [rng.gauss(40.0, 4.0) for _ in range(5)]
        b = [rng.gauss(40.0 * (1 - shift), 4.0) for _ in range(5)]
        ma, mb, sa, sb = (
            statistics.mean(a),
            statistics.mean(b),
            statistics.stdev(a),
            statistics.stdev(b),
        )
        welch_flags += not welch(ma, sa, 5, mb, sb, 5).within_noise
        old_flags += abs(mb - ma) > 2 * math.sqrt(sa**2 + sb**2)
    return welch_flags / trials, old_flags / trials


def test_synthetic_rounds_with_no_change_are_flagged_at_the_stated_rate() -> None:
    welch_rate, old_rate = _rates(shift=0.0)
    assert 0.03 < welch_rate < 0.07  # a 95% test: 5% false alarms
    assert old_rate < 0.01  # the old rule claimed far more confidence than it had


def test_synthetic_rounds_with_a_real_drop_are_caught() -> None:
    welch_rate, old_rate = _rates(shift=0.15)
    assert welch_rate > 0.4 and old_rate < 0.15  # measured: 0.51 and 0.09
