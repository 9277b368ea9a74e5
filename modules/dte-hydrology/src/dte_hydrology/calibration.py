"""Calibrate GR4J: find X1..X4 that maximise the KGE between simulated and observed discharge.

A global optimiser (scipy's differential evolution with a fixed seed, so a calibration can be
repeated) searches within bounds; each generation is simulated at once (:func:`simulate_many`).
The first ``warmup`` days only fill the stores from their default start and are not scored.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import differential_evolution

from dte_hydrology.cleaning import HydrologyInputError, same_length, series
from dte_hydrology.gr4j import Parameters, simulate_many
from dte_hydrology.metrics import kge_components

# Wide enough for most catchments (Perrin et al. 2003 give 80 % intervals of X1 100-1200 mm,
# X2 -5-3 mm/day, X3 20-300 mm, X4 1.1-2.9 days).
BOUNDS: dict[str, tuple[float, float]] = {"x1": (10.0, 2500.0), "x2": (-10.0, 5.0), "x3": (5.0, 1000.0),
                                          "x4": (0.5, 10.0)}
MIN_SCORED_DAYS = 365


@dataclass(frozen=True)
class Calibration:
    parameters: Parameters
    kge: float
    generations: int  # of differential evolution, each simulating the whole population at once
    scored_days: int


def calibrate(precipitation: Sequence[float] | np.ndarray, pet: Sequence[float] | np.ndarray,
              observed: Sequence[float | None] | np.ndarray, *, warmup: int = 365,
              bounds: Mapping[str, tuple[float, float]] | None = None, seed: int = 42, maxiter: int = 100,
              popsize: int = 15, tol: float = 1e-6) -> Calibration:
    """Parameters with the best KGE (2009) over the days after ``warmup``; days without an observed
    discharge (None/NaN) are not scored. Refuses fewer than 365 scored days."""
    p = series(precipitation, "precipitation", minimum=0.0)
    e = series(pet, "pet", minimum=0.0)
    q = series(observed, "observed", minimum=0.0, allow_gaps=True)
    days = same_length(precipitation=p, pet=e, observed=q)
    if warmup < 0:
        raise HydrologyInputError(f"warmup must be >= 0 days, got {warmup}")
    scored = ~np.isnan(q)
    scored[:warmup] = False
    if scored.sum() < MIN_SCORED_DAYS:
        raise HydrologyInputError(
            f"calibration needs at least {MIN_SCORED_DAYS} observed days after the {warmup}-day warm-up; "
            f"got {int(scored.sum())} of {days} days - give a longer series")
    box = _bounds(bounds)
    obs = q[scored]
    if obs.std() == 0 or obs.mean() == 0:
        raise HydrologyInputError("the observed discharge is constant; there is nothing to calibrate on")

    def loss(x: np.ndarray) -> np.ndarray:  # x: 4 x sets (vectorised), 1 - KGE per set
        sim = simulate_many(p, e, x.T)[scored]
        r, alpha, beta = kge_components(obs, sim)
        return np.sqrt((r - 1.0) ** 2 + (alpha - 1.0) ** 2 + (beta - 1.0) ** 2)

    found = differential_evolution(loss, box, seed=seed, maxiter=maxiter, popsize=popsize, tol=tol,
                                   vectorized=True, updating="deferred", polish=False, init="sobol")
    best = Parameters(*(float(v) for v in found.x))
    return Calibration(parameters=best, kge=float(1.0 - found.fun), generations=int(found.nit),
                       scored_days=int(scored.sum()))


def _bounds(bounds: Mapping[str, tuple[float, float]] | None) -> list[tuple[float, float]]:
    merged = {**BOUNDS, **(bounds or {})}
    unknown = set(merged) - set(BOUNDS)
    if unknown:
        raise HydrologyInputError(f"unknown parameter(s) in bounds: {', '.join(sorted(unknown))}; "
                                  "use x1, x2, x3, x4")
    box = []
    for name in ("x1", "x2", "x3", "x4"):
        low, high = (float(v) for v in merged[name])
        if not low < high:
            raise HydrologyInputError(f"bounds of {name}: the lower bound {low} must be below the upper {high}")
        box.append((low, high))
    if box[0][0] <= 0 or box[2][0] <= 0 or box[3][0] < 0.5:
        raise HydrologyInputError("bounds must keep x1 > 0, x3 > 0 and x4 >= 0.5")
    return box
