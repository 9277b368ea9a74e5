"""GR4J, the daily lumped rainfall-runoff model of Perrin, Michel & Andreassian (2003), "Improvement
of a parsimonious model for streamflow simulation", J. Hydrol. 279, 275-289.

Four parameters: X1 production store capacity (mm), X2 groundwater exchange coefficient (mm/day),
X3 routing store capacity (mm), X4 unit hydrograph time base (days). The state is explicit
(:class:`State`: both store levels and what the two unit hydrographs will still release on the
coming days), so a twin can advance the model day by day on live data and a series run in pieces
gives the same discharge as run at once.

The stores are sequential non-linear recursions and are stepped day by day; the unit hydrograph
convolution is vectorised (``np.convolve``, a direct and exact sum). :func:`simulate_many` runs many
parameter sets at once (calibration): the loop is over days, the arithmetic over parameter sets.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from math import ceil
from typing import Any

import numpy as np

from dte_hydrology.cleaning import HydrologyInputError, same_length, series

PERCOLATION = 9.0 / 4.0  # percolation constant of GR4J (Perrin et al. 2003, appendix A)
SPLIT = 0.9  # share of effective rainfall routed through UH1 and the routing store
SECONDS_PER_DAY = 86_400.0


@dataclass(frozen=True)
class Parameters:
    x1: float
    x2: float
    x3: float
    x4: float

    def check(self) -> None:
        if not (np.isfinite(self.x1) and self.x1 > 0):
            raise HydrologyInputError(f"x1 (production store capacity, mm) must be > 0, got {self.x1}")
        if not np.isfinite(self.x2):
            raise HydrologyInputError(f"x2 (exchange coefficient, mm/day) must be a finite number, got {self.x2}")
        if not (np.isfinite(self.x3) and self.x3 > 0):
            raise HydrologyInputError(f"x3 (routing store capacity, mm) must be > 0, got {self.x3}")
        if not (np.isfinite(self.x4) and self.x4 >= 0.5):
            raise HydrologyInputError(f"x4 (unit hydrograph time base, days) must be >= 0.5, got {self.x4}")


@dataclass(frozen=True)
class State:
    """Where the model stands between two days. ``uh1``/``uh2`` hold what each unit hydrograph has
    already received and will release on the following days (index 0: tomorrow); they may be of any
    length, so a state stays valid when X4 is recalibrated."""

    production: float
    routing: float
    uh1: tuple[float, ...] = ()
    uh2: tuple[float, ...] = ()

    @classmethod
    def initial(cls, params: Parameters) -> State:
        """The usual start: production store 30 % full, routing store 50 % full, unit hydrographs empty
        (as airGR's defaults); run a warm-up period before the days that matter."""
        return cls(production=0.3 * params.x1, routing=0.5 * params.x3)

    def check(self, params: Parameters) -> None:
        if not 0.0 <= self.production <= params.x1:
            raise HydrologyInputError(f"state.production must be within [0, x1={params.x1:g}] mm, "
                                      f"got {self.production}")
        if not 0.0 <= self.routing <= params.x3:
            raise HydrologyInputError(f"state.routing must be within [0, x3={params.x3:g}] mm, got {self.routing}")
        for name in ("uh1", "uh2"):
            series(getattr(self, name) or [0.0], f"state.{name}", minimum=0.0)

    @property
    def storage(self) -> float:
        """Water held by the model (mm): both stores and both unit hydrographs."""
        return self.production + self.routing + float(sum(self.uh1)) + float(sum(self.uh2))


@dataclass(frozen=True)
class Result:
    """A simulation: daily discharge and the fluxes that close the water balance (all mm/day)."""

    discharge: np.ndarray
    evaporation: np.ndarray  # actual evapotranspiration (interception + from the production store)
    exchange: np.ndarray  # groundwater exchange actually applied (+ gain, - loss)
    state: State
    initial: State = field(repr=False)


def ordinates(x4: float) -> tuple[np.ndarray, np.ndarray]:
    """The unit hydrograph ordinates UH1 (ceil(X4) days) and UH2 (ceil(2 X4) days) from the S-curves
    SH1(t) = (t/X4)^2.5 and SH2(t) = 0.5 (t/X4)^2.5 | 1 - 0.5 (2 - t/X4)^2.5."""
    def sh1(t: np.ndarray) -> np.ndarray:
        return np.where(t <= 0, 0.0, np.where(t < x4, (t / x4) ** 2.5, 1.0))

    def sh2(t: np.ndarray) -> np.ndarray:
        inner = np.where(t <= x4, 0.5 * (np.clip(t, 0, None) / x4) ** 2.5,
                         1.0 - 0.5 * np.clip(2.0 - t / x4, 0, None) ** 2.5)
        return np.where(t <= 0, 0.0, np.where(t < 2 * x4, inner, 1.0))

    t1 = np.arange(1, ceil(x4) + 1, dtype=float)
    t2 = np.arange(1, ceil(2 * x4) + 1, dtype=float)
    return np.diff(sh1(t1), prepend=0.0), np.diff(sh2(t2), prepend=0.0)


def simulate(precipitation: np.ndarray | list[float], pet: np.ndarray | list[float], params: Parameters,
             state: State | None = None) -> Result:
    """Run GR4J over daily precipitation and potential evapotranspiration (mm/day)."""
    params.check()
    p = series(precipitation, "precipitation", minimum=0.0)
    e = series(pet, "pet", minimum=0.0)
    same_length(precipitation=p, pet=e)
    start = state or State.initial(params)
    start.check(params)
    x = np.array([[params.x1, params.x2, params.x3, params.x4]])
    run = _run(p, e, x, np.array([start.production]), np.array([start.routing]),
               [np.asarray(start.uh1, dtype=float)], [np.asarray(start.uh2, dtype=float)])
    q, evaporation, exchange, s, r, tails1, tails2 = run
    final = State(production=float(s[0]), routing=float(r[0]), uh1=tuple(tails1[0].tolist()),
                  uh2=tuple(tails2[0].tolist()))
    return Result(discharge=q[:, 0], evaporation=evaporation[:, 0], exchange=exchange[:, 0], state=final,
                  initial=start)


def simulate_many(precipitation: np.ndarray, pet: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Discharge (days x parameter sets) for parameter sets ``x`` (sets x 4), each from
    :meth:`State.initial`. Inputs are trusted: calibration checks them once."""
    x = np.atleast_2d(np.asarray(x, dtype=float))
    empty = [np.zeros(0)] * len(x)
    return _run(precipitation, pet, x, 0.3 * x[:, 0], 0.5 * x[:, 2], empty, empty)[0]


@dataclass(frozen=True)
class _Arithmetic:
    """The few operations that differ between plain floats (one parameter set: numpy's per-call cost
    would dominate) and arrays (many sets at once); the equations are written once for both."""

    tanh: Callable[[Any], Any]
    maximum: Callable[[float, Any], Any]
    where: Callable[[Any, Any, Any], Any]


_FLOATS = _Arithmetic(math.tanh, max, lambda condition, yes, no: yes if condition else no)
_ARRAYS = _Arithmetic(np.tanh, np.maximum, np.where)


def _run(p: np.ndarray, e: np.ndarray, x: np.ndarray, s0: np.ndarray, r0: np.ndarray,
         uh1: list[np.ndarray], uh2: list[np.ndarray]) -> tuple[Any, ...]:
    """The model over ``len(p)`` days for ``len(x)`` parameter sets. The production store does not
    depend on the routing part, so it runs first over all days; then the unit hydrographs (one
    convolution per set); then the routing store."""
    days, sets = len(p), len(x)
    if sets == 1:
        ops, (x1, x2, x3, _) = _FLOATS, (float(v) for v in x[0])
        s, r = float(s0[0]), float(r0[0])
    else:
        ops, (x1, x2, x3) = _ARRAYS, (x[:, 0], x[:, 1], x[:, 2])
        s, r = s0.astype(float).copy(), r0.astype(float).copy()
    effective = np.empty((days, sets))
    evaporation = np.empty((days, sets))
    for t, (rain, demand) in enumerate(zip(p.tolist(), e.tolist(), strict=True)):
        if rain >= demand:  # net rainfall fills the production store
            net = rain - demand
            level = s / x1
            tw = ops.tanh(net / x1)
            ps = x1 * (1.0 - level * level) * tw / (1.0 + level * tw)
            s = s + ps
            evaporation[t] = demand
            rain_left = net - ps
        else:  # net evaporation empties it
            tw = ops.tanh((demand - rain) / x1)
            level = s / x1
            es = s * (2.0 - level) * tw / (1.0 + (1.0 - level) * tw)
            s = s - es
            evaporation[t] = rain + es
            rain_left = 0.0
        perc = s * (1.0 - (1.0 + (s / (PERCOLATION * x1)) ** 4) ** -0.25)
        s = s - perc
        effective[t] = perc + rain_left
    q9, tails1 = _route_unit_hydrograph(SPLIT * effective, x[:, 3], uh1, first=True)
    q1, tails2 = _route_unit_hydrograph((1.0 - SPLIT) * effective, x[:, 3], uh2, first=False)
    discharge = np.empty((days, sets))
    exchange = np.empty((days, sets))
    for t, (to_store, to_river) in enumerate(zip(*((q9[:, 0].tolist(), q1[:, 0].tolist()) if sets == 1
                                                    else (q9, q1)), strict=True)):
        f = x2 * (r / x3) ** 3.5  # from the level at the start of the day
        filled = r + to_store + f
        direct = to_river + f
        # a loss takes at most what is there: the exchange actually applied to each branch
        exchange[t] = ops.where(filled >= 0, f, -(r + to_store)) + ops.where(direct >= 0, f, -to_river)
        filled = ops.maximum(0.0, filled)
        direct = ops.maximum(0.0, direct)
        qr = filled * (1.0 - (1.0 + (filled / x3) ** 4) ** -0.25)
        r = filled - qr
        discharge[t] = qr + direct
    return discharge, evaporation, exchange, np.atleast_1d(s), np.atleast_1d(r), tails1, tails2


def _route_unit_hydrograph(inflow: np.ndarray, x4: np.ndarray, pending: list[np.ndarray],
                           first: bool) -> tuple[np.ndarray, list[np.ndarray]]:
    """Outflow (days x sets) of a unit hydrograph and what each set still holds after the last day:
    the pending releases of the initial state plus the convolution's tail."""
    days = inflow.shape[0]
    out = np.empty_like(inflow)
    tails = []
    for k in range(inflow.shape[1]):
        ordinate = ordinates(float(x4[k]))[0 if first else 1]
        full = np.convolve(inflow[:, k], ordinate)  # days + len - 1 values
        held = pending[k]
        length = max(len(held), days + len(ordinate) - 1)
        total = np.zeros(length)
        total[:len(full)] += full
        total[:len(held)] += held
        out[:, k] = total[:days]
        tails.append(total[days:])
    return out, tails


def to_m3s(depth_mm_day: np.ndarray | list[float], area_km2: float) -> np.ndarray:
    """mm/day over a catchment of ``area_km2`` -> m3/s (1 mm/day over 1 km2 is 1000 m3/day)."""
    _check_area(area_km2)
    return np.asarray(depth_mm_day, dtype=float) * area_km2 * 1000.0 / SECONDS_PER_DAY


def to_mm_day(discharge_m3s: np.ndarray | list[float], area_km2: float) -> np.ndarray:
    """m3/s out of a catchment of ``area_km2`` -> mm/day over it."""
    _check_area(area_km2)
    return np.asarray(discharge_m3s, dtype=float) * SECONDS_PER_DAY / (area_km2 * 1000.0)


def _check_area(area_km2: float) -> None:
    if not (np.isfinite(area_km2) and area_km2 > 0):
        raise HydrologyInputError(f"the catchment area must be > 0 km2, got {area_km2}")
