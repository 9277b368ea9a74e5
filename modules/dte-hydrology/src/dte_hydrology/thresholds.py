"""Flood thresholds: the discharge exceeded on average once every T years, from annual maxima with a
Gumbel (EV1) distribution, F(x) = exp(-exp(-(x - mu) / beta)), so x_T = mu - beta ln(-ln(1 - 1/T)).

Two fits: L-moments (Hosking 1990; beta = l2 / ln 2, mu = l1 - gamma beta, robust with short records,
the default) and the method of moments (beta = s sqrt(6) / pi, mu = mean - gamma beta).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Literal

import numpy as np

from dte_hydrology.cleaning import HydrologyInputError, series

EULER_GAMMA = 0.5772156649015329
MIN_YEARS = 5
Method = Literal["lmoments", "moments"]


@dataclass(frozen=True)
class Gumbel:
    location: float  # mu
    scale: float  # beta
    method: Method
    years: int

    def level(self, return_period: float) -> float:
        """Discharge with an annual exceedance probability of 1 / ``return_period``."""
        if not (np.isfinite(return_period) and return_period > 1):
            raise HydrologyInputError(f"a return period must be > 1 year, got {return_period}")
        return float(self.location - self.scale * np.log(-np.log(1.0 - 1.0 / return_period)))

    def return_period(self, discharge: float) -> float:
        """How many years, on average, between annual maxima above ``discharge``."""
        exceedance = 1.0 - np.exp(-np.exp(-(discharge - self.location) / self.scale))
        return float(np.inf if exceedance == 0 else 1.0 / exceedance)


def fit_gumbel(annual_maxima: Sequence[float] | np.ndarray, method: Method = "lmoments") -> Gumbel:
    """Fit a Gumbel distribution to at least five annual maxima."""
    x = np.sort(series(annual_maxima, "annual_maxima"))
    n = len(x)
    if n < MIN_YEARS:
        raise HydrologyInputError(f"at least {MIN_YEARS} annual maxima are needed for a Gumbel fit, got {n}")
    if x[0] == x[-1]:
        raise HydrologyInputError("the annual maxima are all equal; no distribution can be fitted")
    if method == "lmoments":
        b0 = x.mean()
        b1 = np.sum(np.arange(n) / (n - 1) * x) / n  # unbiased probability-weighted moment
        scale = (2.0 * b1 - b0) / np.log(2.0)
    elif method == "moments":
        scale = x.std(ddof=1) * np.sqrt(6.0) / np.pi
    else:
        raise HydrologyInputError(f"method must be 'lmoments' or 'moments', got {method!r}")
    return Gumbel(location=float(x.mean() - EULER_GAMMA * scale), scale=float(scale), method=method, years=n)


def annual_maxima(values: Sequence[float | None] | np.ndarray, start: date, *, first_month: int = 1,
                  min_days: int = 330) -> tuple[list[int], list[float]]:
    """The maximum of each (hydrological) year of a daily series from ``start``; a year starts on the
    first of ``first_month`` and is named by the calendar year it starts in. Years with fewer than
    ``min_days`` values (gaps, or cut by the ends of the series) are left out, since their maximum may
    be missing."""
    if not 1 <= first_month <= 12:
        raise HydrologyInputError(f"first_month must be 1..12, got {first_month}")
    v = series(values, "discharge", allow_gaps=True)
    ordinal = start.toordinal()
    years: dict[int, list[float]] = {}
    for i, value in enumerate(v):
        day = date.fromordinal(ordinal + i)
        year = day.year if day.month >= first_month else day.year - 1
        if not np.isnan(value):
            years.setdefault(year, []).append(float(value))
    kept = sorted(y for y, found in years.items() if len(found) >= min_days)
    return kept, [max(years[y]) for y in kept]
