"""Potential evapotranspiration after Oudin et al. (2005), "Which potential evapotranspiration input
for a lumped rainfall-runoff model? Part 2", J. Hydrol. 303, 290-306:

    PE = Re / (lambda rho) * (T + 5) / 100   if T + 5 > 0, else 0      (mm/day)

with Re the extraterrestrial radiation, which depends only on latitude and day of year (FAO-56,
Allen et al. 1998, eqs. 21-25), T the daily mean air temperature (deg C), lambda = 2.45 MJ/kg the
latent heat of vaporisation and rho = 1000 kg/m3 the density of water. It needs nothing but
temperature, which is why rainfall-runoff models driven by a few sensors use it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

import numpy as np

from dte_hydrology.cleaning import HydrologyInputError, series

SOLAR_CONSTANT = 0.0820  # MJ m-2 min-1
LATENT_HEAT = 2.45  # MJ kg-1
WATER_DENSITY = 1000.0  # kg m-3


def extraterrestrial_radiation(latitude: float, day_of_year: np.ndarray | Sequence[int]) -> np.ndarray:
    """Daily extraterrestrial radiation Ra (MJ m-2 day-1) at ``latitude`` (degrees, south negative).
    In polar night the sunset hour angle is 0 (no radiation), in polar day it is pi."""
    _check_latitude(latitude)
    j = np.asarray(day_of_year, dtype=float)
    if np.any((j < 1) | (j > 366)):
        raise HydrologyInputError("day of year must be within 1..366")
    phi = np.radians(latitude)
    inverse_distance = 1.0 + 0.033 * np.cos(2.0 * np.pi * j / 365.0)  # eq. 23
    declination = 0.409 * np.sin(2.0 * np.pi * j / 365.0 - 1.39)  # eq. 24
    sunset = np.arccos(np.clip(-np.tan(phi) * np.tan(declination), -1.0, 1.0))  # eq. 25
    return (24.0 * 60.0 / np.pi) * SOLAR_CONSTANT * inverse_distance * (
        sunset * np.sin(phi) * np.sin(declination) + np.cos(phi) * np.cos(declination) * np.sin(sunset))


def oudin(temperature: Sequence[float | None] | np.ndarray, latitude: float, start: date) -> np.ndarray:
    """Daily PET (mm/day) for consecutive days from ``start`` with daily mean temperatures (deg C)."""
    t = series(temperature, "temperature")
    if np.any((t < -90) | (t > 60)):
        raise HydrologyInputError("temperature must be in deg C within -90..60 (is it in kelvin?)")
    days = [start + timedelta(days=i) for i in range(len(t))]
    radiation = extraterrestrial_radiation(latitude, [d.timetuple().tm_yday for d in days])
    pe = radiation / (LATENT_HEAT * WATER_DENSITY) * 1000.0 * (t + 5.0) / 100.0  # m/day -> mm/day
    return np.where(t + 5.0 > 0.0, pe, 0.0)


def _check_latitude(latitude: float) -> None:
    if not (np.isfinite(latitude) and -90.0 <= latitude <= 90.0):
        raise HydrologyInputError(f"latitude must be within -90..90 degrees, got {latitude}")
