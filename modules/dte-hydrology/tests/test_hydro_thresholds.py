"""Gumbel flood thresholds against a known distribution."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from dte_hydrology.cleaning import HydrologyInputError
from dte_hydrology.thresholds import EULER_GAMMA, Gumbel, annual_maxima, fit_gumbel


def exact(location: float, scale: float, period: float) -> float:
    return location - scale * np.log(-np.log(1 - 1 / period))


@pytest.mark.parametrize("method", ["lmoments", "moments"])
def test_a_large_sample_recovers_its_distribution(method: str) -> None:
    sample = np.random.default_rng(5).gumbel(loc=120.0, scale=35.0, size=20_000)
    fit = fit_gumbel(sample, method)
    assert fit.location == pytest.approx(120.0, rel=0.01) and fit.scale == pytest.approx(35.0, rel=0.02)
    for period in (2, 5, 10, 50, 100):
        assert fit.level(period) == pytest.approx(exact(120.0, 35.0, period), rel=0.01)


def test_levels_and_return_periods_are_inverse() -> None:
    fit = Gumbel(location=100.0, scale=20.0, method="lmoments", years=30)
    assert fit.level(2) == pytest.approx(100 - 20 * np.log(np.log(2)))  # the median annual maximum
    for period in (2, 5, 10, 50):
        assert fit.return_period(fit.level(period)) == pytest.approx(period)
    with pytest.raises(HydrologyInputError, match="return period must be > 1"):
        fit.level(1)


def test_l_moments_by_hand() -> None:
    """x = 1..5: b0 = 3, b1 = (0*1 + 2/4 + 2*3/4 + 3*4/4 + 5) / 5 = 2, so l2 = 2 b1 - b0 = 1."""
    fit = fit_gumbel([5, 3, 1, 4, 2])
    assert fit.scale == pytest.approx(1 / np.log(2))
    assert fit.location == pytest.approx(3 - EULER_GAMMA / np.log(2))


def test_too_few_or_equal_maxima_are_refused() -> None:
    with pytest.raises(HydrologyInputError, match="at least 5 annual maxima"):
        fit_gumbel([1, 2, 3])
    with pytest.raises(HydrologyInputError, match="all equal"):
        fit_gumbel([4, 4, 4, 4, 4])


def test_annual_maxima_of_complete_years() -> None:
    days = (date(2023, 1, 1) - date(2020, 1, 1)).days  # 2020 (leap), 2021, 2022
    values = np.zeros(days + 100)
    values[10], values[400], values[800], values[days + 5] = 7.0, 9.0, 4.0, 99.0
    values[401:420] = np.nan  # gaps do not drop a year that still has 330 values
    years, maxima = annual_maxima(values, date(2020, 1, 1))
    assert years == [2020, 2021, 2022] and maxima == [7.0, 9.0, 4.0]  # 2023 is incomplete
    years, _ = annual_maxima(values, date(2020, 1, 1), first_month=10)  # hydrological years from October
    assert years == [2020, 2021]
