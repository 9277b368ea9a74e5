"""Properties that hold for any parameters and any forcing (hypothesis)."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from dte_hydrology.cleaning import daily
from dte_hydrology.gr4j import Parameters, State, simulate

params = st.builds(Parameters, x1=st.floats(1.0, 3000.0), x2=st.floats(-20.0, 10.0), x3=st.floats(1.0, 1000.0),
                   x4=st.floats(0.5, 15.0))
forcing = st.integers(1, 120).flatmap(lambda n: st.tuples(
    st.lists(st.floats(0.0, 300.0), min_size=n, max_size=n), st.lists(st.floats(0.0, 15.0), min_size=n, max_size=n)))


@settings(max_examples=150, deadline=None)
@given(params, forcing, st.floats(0.0, 1.0), st.floats(0.0, 1.0))
def test_any_run_conserves_water_and_stays_in_bounds(x: Parameters, weather: tuple[list[float], list[float]],
                                                     production: float, routing: float) -> None:
    rain, pet = weather
    start = State(production=production * x.x1, routing=routing * x.x3)
    result = simulate(rain, pet, x, start)
    change = result.state.storage - start.storage
    balance = sum(rain) - result.evaporation.sum() - result.discharge.sum() + result.exchange.sum() - change
    assert abs(balance) <= 1e-9 * max(1.0, sum(rain), start.storage)
    assert (result.discharge >= 0).all() and (result.evaporation <= np.array(pet) + 1e-9).all()
    assert 0 <= result.state.production <= x.x1 and 0 <= result.state.routing <= x.x3
    assert min(result.state.uh1 + result.state.uh2, default=0.0) >= 0


@given(st.integers(1, 60).flatmap(lambda n: st.permutations(list(range(n)))))
def test_days_in_any_order_come_back_sorted(order: list[int]) -> None:
    first = date(2024, 2, 20)
    days, values = daily([(first + timedelta(days=i)).isoformat() for i in order], [float(i) for i in order], "v")
    assert values.tolist() == sorted(float(i) for i in order) and days[0] == first
