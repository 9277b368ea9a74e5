"""Efficiency metrics against values worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dte_hydrology.cleaning import HydrologyInputError
from dte_hydrology.metrics import bias, kge, nse, pbias, rmse

OBS = [1.0, 2.0, 3.0, 4.0, 5.0]


def test_a_perfect_simulation() -> None:
    assert nse(OBS, OBS) == 1.0
    assert kge(OBS, OBS) == pytest.approx(1.0) and kge(OBS, OBS, revised=True) == pytest.approx(1.0)
    assert bias(OBS, OBS) == 0.0 and rmse(OBS, OBS) == 0.0 and pbias(OBS, OBS) == 0.0


def test_the_observed_mean_scores_zero_nse() -> None:
    assert nse(OBS, [3.0] * 5) == pytest.approx(0.0)
    assert kge(OBS, [3.0] * 5) == pytest.approx(1 - math.sqrt(1 + 1))  # r = 0, alpha = 0, beta = 1


def test_doubling_the_observations() -> None:
    """sim = 2 obs: r = 1, alpha = 2, beta = 2 -> KGE = 1 - sqrt 2; the CV is unchanged -> KGE' = 1 - 1."""
    doubled = [2 * v for v in OBS]
    assert kge(OBS, doubled) == pytest.approx(1 - math.sqrt(2))
    assert kge(OBS, doubled, revised=True) == pytest.approx(0.0)
    assert nse(OBS, doubled) == pytest.approx(1 - sum(v * v for v in OBS) / 10.0)
    assert bias(OBS, doubled) == pytest.approx(3.0) and pbias(OBS, doubled) == pytest.approx(100.0)
    assert rmse(OBS, doubled) == pytest.approx(math.sqrt(sum(v * v for v in OBS) / 5))


def test_days_without_an_observation_are_not_scored() -> None:
    assert nse([1.0, None, 3.0, float("nan"), 5.0], [1.0, 99.0, 3.0, -7.0, 5.0]) == 1.0
    assert rmse([None, 1.0, 2.0], [0.0, 2.0, 2.0]) == pytest.approx(math.sqrt(0.5))


def test_columns_are_scored_one_by_one() -> None:
    rng = np.random.default_rng(0)
    sims = rng.random((5, 3)) * 5
    for metric in (nse, kge, bias, pbias, rmse):
        np.testing.assert_allclose(metric(OBS, sims), [metric(OBS, sims[:, k]) for k in range(3)])


def test_undefined_metrics_are_refused() -> None:
    with pytest.raises(HydrologyInputError, match="observed has 3 values, simulated 2"):
        nse([1, 2, 3], [1, 2])
    with pytest.raises(HydrologyInputError, match="observations are constant"):
        kge([2, 2, 2], [1, 2, 3])
    with pytest.raises(HydrologyInputError, match="at least 2 observed values"):
        rmse([None, None, 1], [1, 2, 3])
    with pytest.raises(HydrologyInputError, match="simulated has 1 missing"):
        bias([1, 2], [1, None])
