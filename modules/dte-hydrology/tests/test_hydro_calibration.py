"""Calibration recovers the parameters that generated a synthetic discharge series."""

from __future__ import annotations

import numpy as np
import pytest
from test_hydro_gr4j import weather

from dte_hydrology.calibration import calibrate
from dte_hydrology.cleaning import HydrologyInputError
from dte_hydrology.gr4j import Parameters, simulate
from dte_hydrology.metrics import kge


def test_synthetic_parameters_are_recovered() -> None:
    """Four scored years after a one-year warm-up; 40 generations of 60 parameter sets."""
    truth = Parameters(320.0, -0.8, 75.0, 1.9)
    rain, pet = weather(5 * 365, seed=7)
    observed = simulate(rain, pet, truth).discharge
    found = calibrate(rain, pet, observed, warmup=365, maxiter=40, popsize=15)
    assert found.kge > 0.95 and found.scored_days == 4 * 365
    p = found.parameters
    assert p.x1 == pytest.approx(truth.x1, rel=0.15) and p.x3 == pytest.approx(truth.x3, rel=0.2)
    assert p.x2 == pytest.approx(truth.x2, abs=0.5) and p.x4 == pytest.approx(truth.x4, abs=0.3)
    resimulated = simulate(rain, pet, p).discharge
    assert kge(observed[365:], resimulated[365:]) == pytest.approx(found.kge)  # the score is the model's
    again = calibrate(rain, pet, observed, warmup=365, maxiter=40, popsize=15)
    assert again.parameters == p  # fixed seed: the same answer


def test_missing_observations_are_not_scored() -> None:
    truth = Parameters(500.0, 0.3, 120.0, 2.6)
    rain, pet = weather(3 * 365, seed=9)
    observed: list[float | None] = list(simulate(rain, pet, truth).discharge)
    for i in range(400, 700, 3):
        observed[i] = None
    found = calibrate(rain, pet, observed, warmup=200, maxiter=25)
    assert found.kge > 0.95 and found.scored_days == 3 * 365 - 200 - 100


def test_too_little_data_is_refused() -> None:
    rain, pet = weather(600)
    with pytest.raises(HydrologyInputError, match="at least 365 observed days after the 365-day warm-up; got 235"):
        calibrate(rain, pet, np.ones(600), warmup=365)
    with pytest.raises(HydrologyInputError, match="same length"):
        calibrate(rain, pet[:-1], np.ones(600))
    with pytest.raises(HydrologyInputError, match="unknown parameter.*x5"):
        calibrate(rain, pet, np.arange(600.0), warmup=0, bounds={"x5": (0, 1)})
    with pytest.raises(HydrologyInputError, match="lower bound 300.0 must be below the upper 200.0"):
        calibrate(rain, pet, np.arange(600.0), warmup=0, bounds={"x1": (300, 200)})
    with pytest.raises(HydrologyInputError, match="observed discharge is constant"):
        calibrate(rain, pet, np.ones(600), warmup=0)
