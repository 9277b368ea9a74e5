"""Efficiency metrics comparing simulated with observed discharge.

Days without an observation (``None``/NaN in ``observed``) are left out of every metric, because
gauges have gaps; a simulated value is never missing. Every function also accepts 2-D ``simulated``
(days x parameter sets) and then scores each column, which calibration uses.

- NSE: Nash & Sutcliffe (1970), 1 - SSE / variance of the observations around their mean.
- KGE 2009: Gupta, Kling, Yilmaz & Martinez (2009), J. Hydrol. 377: correlation r, variability
  ratio alpha = sigma_s / sigma_o and bias ratio beta = mu_s / mu_o.
- KGE 2012 (KGE'): Kling, Fuchs & Paulin (2012), J. Hydrol. 424-425: the variability ratio is taken
  on coefficients of variation, gamma = (sigma_s/mu_s) / (sigma_o/mu_o), so it is not cross-correlated
  with the bias.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from dte_hydrology.cleaning import HydrologyInputError, series

Values = Sequence[float | None] | np.ndarray


def paired(observed: Values, simulated: Values | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Observed and simulated values on the days that have an observation (at least two)."""
    obs = series(observed, "observed", allow_gaps=True)
    sim = np.asarray(simulated, dtype=float)
    if sim.ndim == 1:
        sim = series(sim, "simulated")
    if sim.shape[0] != obs.shape[0]:
        raise HydrologyInputError(f"observed has {obs.shape[0]} values, simulated {sim.shape[0]}")
    if not np.isfinite(sim).all():
        raise HydrologyInputError("simulated has missing or infinite values")
    keep = ~np.isnan(obs)
    if keep.sum() < 2:
        raise HydrologyInputError(f"at least 2 observed values are needed, got {int(keep.sum())}")
    return obs[keep], sim[keep]


def _ratio(numerator: np.ndarray, denominator: float, what: str) -> np.ndarray:
    if denominator == 0:
        raise HydrologyInputError(f"the observations' {what} is zero; the metric is undefined")
    return numerator / denominator


def nse(observed: Values, simulated: Values) -> float | np.ndarray:
    """Nash-Sutcliffe efficiency: 1 is perfect, 0 is as good as the observed mean, unbounded below."""
    obs, sim = paired(observed, simulated)
    residual = np.sum((sim - _column(obs, sim)) ** 2, axis=0)
    return _out(1.0 - _ratio(residual, float(np.sum((obs - obs.mean()) ** 2)), "variance"))


def kge(observed: Values, simulated: Values, *, revised: bool = False) -> float | np.ndarray:
    """Kling-Gupta efficiency (2009), or with ``revised`` its 2012 form KGE'; 1 is perfect."""
    obs, sim = paired(observed, simulated)
    r, variability, beta = kge_components(obs, sim, revised=revised)
    return _out(1.0 - np.sqrt((r - 1.0) ** 2 + (variability - 1.0) ** 2 + (beta - 1.0) ** 2))


def kge_components(obs: np.ndarray, sim: np.ndarray, *, revised: bool = False) -> tuple[np.ndarray, ...]:
    """(r, alpha or gamma, beta) of paired values. A constant simulation has no correlation: r = 0."""
    mu_o, sigma_o = float(obs.mean()), float(obs.std())
    mu_s, sigma_s = sim.mean(axis=0), sim.std(axis=0)
    if sigma_o == 0:
        raise HydrologyInputError("the observations are constant; KGE is undefined")
    covariance = np.mean((sim - mu_s) * _column(obs - mu_o, sim), axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(sigma_s > 0, covariance / (sigma_s * sigma_o), 0.0)
        beta = _ratio(mu_s, mu_o, "mean")
        if revised:
            variability = np.where(mu_s != 0, (sigma_s / np.where(mu_s != 0, mu_s, 1.0)) / (sigma_o / mu_o), 0.0)
        else:
            variability = sigma_s / sigma_o
    return r, variability, beta


def bias(observed: Values, simulated: Values) -> float | np.ndarray:
    """Mean error, simulated - observed, in the units of the series (positive: overestimation)."""
    obs, sim = paired(observed, simulated)
    return _out(np.mean(sim - _column(obs, sim), axis=0))


def pbias(observed: Values, simulated: Values) -> float | np.ndarray:
    """Percent bias, 100 * sum(simulated - observed) / sum(observed)."""
    obs, sim = paired(observed, simulated)
    return _out(100.0 * _ratio(np.sum(sim - _column(obs, sim), axis=0), float(obs.sum()), "sum"))


def rmse(observed: Values, simulated: Values) -> float | np.ndarray:
    """Root mean square error, in the units of the series."""
    obs, sim = paired(observed, simulated)
    return _out(np.sqrt(np.mean((sim - _column(obs, sim)) ** 2, axis=0)))


def _column(obs: np.ndarray, sim: np.ndarray) -> np.ndarray:
    return obs[:, None] if sim.ndim == 2 else obs


def _out(value: np.ndarray) -> float | np.ndarray:
    return float(value) if np.ndim(value) == 0 else value
