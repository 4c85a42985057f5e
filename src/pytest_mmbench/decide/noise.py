"""Is a move between two runs' means real, or inside their sampling noise?  Welch's t-test.

Each run gives a figure as the mean of ``n`` rounds with a sample standard deviation
``s``.  What varies from run to run is the *mean*, whose uncertainty is the standard
error ``s / sqrt(n)``, not ``s``: comparing a move against the rounds' own spread
(``sqrt(s1² + s2²)``) lets through moves about ``sqrt(n)`` times larger than chance
explains.  Welch's test compares the move with the standard error of the difference

    se = sqrt(s1²/n1 + s2²/n2)        t = (m2 - m1) / se

and with the Welch-Satterthwaite degrees of freedom, so unequal spreads and round counts
are fine.  A move is "within noise" when ``|t|`` is below the two-sided 95% quantile of
Student's t for those degrees of freedom.  Worked example (docs/decisions.md): 40.0 ±
3.0 tok/s over 5 rounds, then 34.0 ± 3.5 over 5: se = 2.06, t = -2.91, df = 7.8,
critical t = 2.31, so the 15% drop is real; the old rule called it noise (2 x 4.6 = 9.2).

The quantile comes from the standard table (df 1-30, 40, 60, 120 and infinity, plus
quarter steps below 4 where it falls fast), log-interpolated in 1/df: exact at the rows
and within 0.4% of SciPy's ``t.ppf`` everywhere from df 1 up (checked at every 0.01).
That is far finer than the decision needs, and avoids a SciPy dependency.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

NOISE_TEST = "Welch's t-test, 95% two-sided"

# Two-sided 95% (upper 0.975) quantiles of Student's t, by degrees of freedom.
_T975: dict[float, float] = {
    1: 12.706, 1.25: 8.028, 1.5: 6.017, 1.75: 4.949, 2: 4.303, 2.5: 3.575, 3: 3.182,
    3.5: 2.940, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306,
    9: 2.262, 10: 2.228, 11: 2.201, 12: 2.179, 13: 2.160, 14: 2.145, 15: 2.131, 16: 2.120,
    17: 2.110, 18: 2.101, 19: 2.093, 20: 2.086, 21: 2.080, 22: 2.074, 23: 2.069, 24: 2.064,
    25: 2.060, 26: 2.056, 27: 2.052, 28: 2.048, 29: 2.045, 30: 2.042, 40: 2.021, 60: 2.000,
    120: 1.980,
}  # fmt: skip
_T975_INFINITE_DF = 1.960


def t_critical(df: float) -> float:
    """The two-sided 95% critical value of Student's t with ``df`` (>= 1) degrees of freedom."""
    if df < 1:
        raise ValueError(f"degrees of freedom must be >= 1, got {df}")
    rows = sorted(_T975)
    if df in _T975:
        return _T975[df]
    above = [r for r in rows if r > df]
    if not above:  # beyond 120: interpolate towards the normal quantile at 1/df = 0
        low_df, low_t = 120.0, _T975[120]
        return _T975_INFINITE_DF + (low_t - _T975_INFINITE_DF) * (low_df / df)
    high = above[0]
    low = max(r for r in rows if r < df)
    weight = (1 / low - 1 / df) / (1 / low - 1 / high)
    return math.exp(math.log(_T975[low]) + weight * math.log(_T975[high] / _T975[low]))


@dataclass(frozen=True)
class WelchTest:
    """The result of comparing two means, with everything needed to explain it."""

    t: float | None  # None when both spreads are zero: any move is then real
    df: float | None
    standard_error: float
    critical: float | None

    @property
    def within_noise(self) -> bool:
        return self.t is not None and self.critical is not None and abs(self.t) < self.critical

    def note(self) -> str:
        if self.t is None or self.df is None or self.critical is None:
            return "both runs had zero spread"
        return (
            f"|t| {abs(self.t):.2f} < {self.critical:.2f} (Welch, df {self.df:.1f}, "
            f"se {self.standard_error:.3g})"
        )


def welch(
    mean_old: float, sd_old: float, n_old: int, mean_new: float, sd_new: float, n_new: int
) -> WelchTest:
    """Welch's t for the move from the old mean to the new; both runs need n >= 2."""
    if n_old < 2 or n_new < 2:
        raise ValueError("Welch's test needs at least two rounds in each run")
    var_old, var_new = sd_old**2 / n_old, sd_new**2 / n_new
    se = math.sqrt(var_old + var_new)
    if se == 0:
        return WelchTest(None, None, 0.0, None)
    df = (var_old + var_new) ** 2 / (var_old**2 / (n_old - 1) + var_new**2 / (n_new - 1))
    df = max(df, 1.0)
    return WelchTest((mean_new - mean_old) / se, df, se, t_critical(df))
