"""Extraterrestrial radiation against FAO-56 and the Oudin formula."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from dte_hydrology.cleaning import HydrologyInputError
from dte_hydrology.pet import extraterrestrial_radiation, oudin


def test_radiation_of_the_fao56_worked_example() -> None:
    """FAO-56 example 8: 20 deg S on 3 September (day 246) receives 32.2 MJ m-2 day-1."""
    assert extraterrestrial_radiation(-20.0, [246])[0] == pytest.approx(32.2, abs=0.05)


def test_polar_night_and_day() -> None:
    assert extraterrestrial_radiation(80.0, [355])[0] == pytest.approx(0.0, abs=1e-9)
    assert extraterrestrial_radiation(80.0, [172])[0] > extraterrestrial_radiation(0.0, [172])[0]


def test_the_hemispheres_mirror_each_other() -> None:
    north = extraterrestrial_radiation(45.0, np.arange(1, 366))
    south = extraterrestrial_radiation(-45.0, np.arange(1, 366))
    assert north.argmax() in range(165, 180) and south.argmin() in range(165, 180)


def test_oudin() -> None:
    start = date(2024, 9, 2)  # leap year: 2 September is day 246
    pe = oudin([15.0, -5.0, -12.0], -20.0, start)
    ra = extraterrestrial_radiation(-20.0, [246])[0]
    assert pe[0] == pytest.approx(ra / 2.45 * 0.20)  # (T + 5) / 100 = 0.2; MJ/m2 / 2.45 MJ/kg -> mm
    assert pe[1] == 0.0 and pe[2] == 0.0  # no evaporation at or below -5 deg C
    assert 2.0 < pe[0] < 3.0


def test_bad_temperature_and_latitude_are_refused() -> None:
    with pytest.raises(HydrologyInputError, match="latitude must be within -90..90"):
        oudin([10.0], 95.0, date(2024, 1, 1))
    with pytest.raises(HydrologyInputError, match="is it in kelvin"):
        oudin([283.0], 45.0, date(2024, 1, 1))
    with pytest.raises(HydrologyInputError, match=r"temperature has 1 missing value\(s\) at index 0"):
        oudin([None, 3.0], 45.0, date(2024, 1, 1))
