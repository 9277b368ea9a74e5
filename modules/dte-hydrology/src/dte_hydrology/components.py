"""``hydrology.*``: the module's workflow components (entry point ``hydrology`` in group
``dte.components``). Thin typed wrappers over the science modules, which know nothing of DTE: they
turn JSON-shaped inputs into arrays and results back into JSON-shaped outputs, and let the science
modules' :class:`~dte_hydrology.cleaning.HydrologyInputError` (a ``ValueError`` that names the bad
values) fail the step, so the run shows the user why.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from dte.sdk.component import component
from dte_hydrology import calibration, cleaning, gr4j, metrics, thresholds
from dte_hydrology import pet as evapotranspiration

# --- models at the boundary ---------------------------------------------------------------------------


class Gr4jState(BaseModel):
    """GR4J's state between two days (mm): store levels and the unit hydrographs' pending releases."""

    model_config = ConfigDict(extra="forbid")
    production: float = Field(ge=0, description="production store level (mm)")
    routing: float = Field(ge=0, description="routing store level (mm)")
    uh1: list[float] = Field(default_factory=list, description="UH1 releases of the coming days (mm)")
    uh2: list[float] = Field(default_factory=list, description="UH2 releases of the coming days (mm)")

    @classmethod
    def of(cls, state: gr4j.State) -> Gr4jState:
        return cls(production=state.production, routing=state.routing, uh1=list(state.uh1), uh2=list(state.uh2))

    def to_state(self) -> gr4j.State:
        return gr4j.State(production=self.production, routing=self.routing, uh1=tuple(self.uh1),
                          uh2=tuple(self.uh2))


class Gr4jParameters(BaseModel):
    x1: float = Field(description="production store capacity (mm)")
    x2: float = Field(description="groundwater exchange coefficient (mm/day)")
    x3: float = Field(description="routing store capacity (mm)")
    x4: float = Field(description="unit hydrograph time base (days)")


class Level(BaseModel):
    return_period: float = Field(description="years")
    discharge: float = Field(description="in the units of the annual maxima")


class FloodThresholds(BaseModel):
    location: float
    scale: float
    method: str
    years: int
    levels: list[Level]


# --- GR4J -----------------------------------------------------------------------------------------------


@component(outputs=("discharge", "state"))
def gr4j_run(precipitation: list[float], pet: list[float], *, x1: float, x2: float, x3: float, x4: float,
             state: Gr4jState | None = None) -> tuple[list[float], Gr4jState]:
    """Run GR4J over daily precipitation and PET (mm/day): discharge (mm/day) and the final state.

    Without ``state`` the stores start 30 % (production) and 50 % (routing) full; pass the state a
    previous run returned to carry on from where it stopped."""
    params = gr4j.Parameters(x1, x2, x3, x4)
    result = gr4j.simulate(precipitation, pet, params, state.to_state() if state else None)
    return result.discharge.tolist(), Gr4jState.of(result.state)


@component(outputs=("discharge", "state"))
def gr4j_step(precipitation: float, pet: float, *, x1: float, x2: float, x3: float, x4: float,
              state: Gr4jState | None = None) -> tuple[float, Gr4jState]:
    """Advance GR4J by one day (a twin on live data): that day's discharge (mm/day) and the new state."""
    discharge, new_state = gr4j_run([precipitation], [pet], x1=x1, x2=x2, x3=x3, x4=x4, state=state)
    return discharge[0], new_state


@component(outputs=("parameters", "kge"))
def calibrate_gr4j(precipitation: list[float], pet: list[float], observed: list[float | None], *,
                   warmup: int = 365, seed: int = 42, maxiter: int = 100,
                   bounds: dict[str, tuple[float, float]] | None = None) -> tuple[Gr4jParameters, float]:
    """Calibrate X1..X4 on observed discharge (mm/day, null for missing days) by maximising the KGE
    after a warm-up; needs at least 365 observed days after it."""
    found = calibration.calibrate(precipitation, pet, observed, warmup=warmup, seed=seed, maxiter=maxiter,
                                  bounds=bounds)
    p = found.parameters
    return Gr4jParameters(x1=p.x1, x2=p.x2, x3=p.x3, x4=p.x4), found.kge


@component
def to_m3s(values: list[float], *, area_km2: float) -> list[float]:
    """mm/day over a catchment of ``area_km2`` -> m3/s."""
    return gr4j.to_m3s(cleaning.series(values, "values"), area_km2).tolist()


@component
def to_mm_day(values: list[float], *, area_km2: float) -> list[float]:
    """m3/s out of a catchment of ``area_km2`` -> mm/day."""
    return gr4j.to_mm_day(cleaning.series(values, "values"), area_km2).tolist()


# --- evapotranspiration -------------------------------------------------------------------------------


@component
def oudin_pet(temperature: list[float], *, latitude: float, start: str) -> list[float]:
    """Daily PET (mm/day) after Oudin et al. (2005) from daily mean temperature (deg C) for consecutive
    days from ``start`` (YYYY-MM-DD) at ``latitude`` (degrees, south negative)."""
    return evapotranspiration.oudin(temperature, latitude, cleaning.parse_day(start, "start")).tolist()


# --- efficiency metrics (observed may have nulls: those days are not scored) ------------------------------


@component
def nse(observed: list[float | None], simulated: list[float]) -> float:
    """Nash-Sutcliffe efficiency (1 is perfect)."""
    return float(metrics.nse(observed, simulated))


@component
def kge(observed: list[float | None], simulated: list[float], *, revised: bool = False) -> float:
    """Kling-Gupta efficiency, 2009 (or 2012 with ``revised``); 1 is perfect."""
    return float(metrics.kge(observed, simulated, revised=revised))


@component
def bias(observed: list[float | None], simulated: list[float]) -> float:
    """Mean error, simulated - observed."""
    return float(metrics.bias(observed, simulated))


@component
def pbias(observed: list[float | None], simulated: list[float]) -> float:
    """Percent bias, 100 * sum(simulated - observed) / sum(observed)."""
    return float(metrics.pbias(observed, simulated))


@component
def rmse(observed: list[float | None], simulated: list[float]) -> float:
    """Root mean square error."""
    return float(metrics.rmse(observed, simulated))


# --- flood thresholds ---------------------------------------------------------------------------------


@component
def annual_maxima(discharge: list[float | None], *, start: str, first_month: int = 1) -> list[float]:
    """The maximum of each complete (hydrological) year of a daily series beginning on ``start``."""
    return thresholds.annual_maxima(discharge, cleaning.parse_day(start, "start"), first_month=first_month)[1]


@component
def flood_thresholds(annual_maxima: list[float], *, return_periods: list[float] | None = None,
                     method: Literal["lmoments", "moments"] = "lmoments") -> FloodThresholds:
    """Return-period discharges (default 2, 5, 10 and 50 years) from a Gumbel fit of annual maxima."""
    fit = thresholds.fit_gumbel(annual_maxima, method)
    periods = return_periods if return_periods is not None else [2.0, 5.0, 10.0, 50.0]
    return FloodThresholds(location=fit.location, scale=fit.scale, method=fit.method, years=fit.years,
                           levels=[Level(return_period=t, discharge=fit.level(t)) for t in periods])


# --- input preparation ----------------------------------------------------------------------------------


@component
def fill_gaps(values: list[float | None], *, max_gap: int = 3) -> list[float]:
    """Fill runs of up to ``max_gap`` missing values (null) by linear interpolation; longer gaps, or
    gaps at either end, fail with their position."""
    return cleaning.fill_gaps(values, "values", max_gap=max_gap).tolist()


@component(outputs=("start", "values"))
def daily_series(times: list[str], values: list[float | None]) -> tuple[str, list[float | None]]:
    """Sort daily values by their timestamps: the first day (YYYY-MM-DD) and the values in order.
    Two values for one day, or a missing day, fail with the days at fault."""
    days, ordered = cleaning.daily(times, values, "values")
    return days[0].isoformat(), [None if v != v else float(v) for v in ordered]
