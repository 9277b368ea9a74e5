"""GR4J: water balance, draining, continuity across runs, a hand-checked series, unit hydrographs,
refused inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dte_hydrology.cleaning import HydrologyInputError
from dte_hydrology.gr4j import Parameters, State, ordinates, simulate, simulate_many, to_m3s, to_mm_day


def weather(days: int, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Intermittent gamma-distributed rain and a seasonal PET cycle (mm/day)."""
    rng = np.random.default_rng(seed)
    rain = np.where(rng.random(days) < 0.45, rng.gamma(0.8, 8.0, days), 0.0)
    pet = np.clip(2.2 + 1.8 * np.sin((np.arange(days) - 100) * 2 * np.pi / 365), 0, None)
    return rain, pet


@pytest.mark.parametrize("params", [Parameters(350, 0.0, 90, 1.7), Parameters(320, -2.5, 40, 3.4),
                                    Parameters(800, 1.5, 200, 0.6), Parameters(120, -8.0, 15, 6.2)])
def test_the_water_balance_closes(params: Parameters) -> None:
    """P - E - Q + exchange = change of the water held in the stores and unit hydrographs."""
    rain, pet = weather(3 * 365)
    result = simulate(rain, pet, params)
    change = result.state.storage - result.initial.storage
    balance = rain.sum() - result.evaporation.sum() - result.discharge.sum() + result.exchange.sum() - change
    assert abs(balance) < 1e-9
    assert (result.discharge >= 0).all() and (result.evaporation <= pet + 1e-12).all()
    if params.x2 < 0:
        assert result.exchange.sum() < 0  # a losing catchment
    if params.x2 == 0:
        assert not result.exchange.any()


@pytest.mark.parametrize("x2", [0.0, -1.0])
def test_without_rain_the_stores_drain_monotonically(x2: float) -> None:
    params = Parameters(400, x2, 100, 2.3)
    rain, pet = weather(60)
    wet = simulate(rain, pet, params).state
    state, production, routing, held, discharge = wet, [wet.production], [wet.routing], [wet.storage], []
    for _ in range(120):  # one day at a time, as a twin would
        step = simulate([0.0], [1.5], params, state)
        state = step.state
        production.append(state.production)
        routing.append(state.routing)
        held.append(state.storage)
        discharge.append(step.discharge[0])

    def falling(values: list[float]) -> bool:
        return all(b < a for a, b in zip(values, values[1:], strict=False))

    assert falling(held) and falling(production) and falling(discharge)
    # the routing store still gets what the unit hydrographs release, then only drains
    assert falling(routing[math.ceil(2 * params.x4):])


@pytest.mark.parametrize("split", [1, 200, 517])
def test_a_series_run_in_two_parts_equals_one_run(split: int) -> None:
    params = Parameters(300, -0.7, 70, 4.6)
    rain, pet = weather(730, seed=11)
    whole = simulate(rain, pet, params)
    first = simulate(rain[:split], pet[:split], params)
    second = simulate(rain[split:], pet[split:], params, first.state)
    joined = np.concatenate([first.discharge, second.discharge])
    np.testing.assert_allclose(joined, whole.discharge, rtol=1e-12, atol=1e-14)
    assert second.state.production == pytest.approx(whole.state.production, rel=1e-12)
    assert second.state.routing == pytest.approx(whole.state.routing, rel=1e-12)
    np.testing.assert_allclose(second.state.uh1, whole.state.uh1, rtol=1e-12, atol=1e-14)


def test_a_state_from_another_x4_keeps_its_pending_water() -> None:
    """Recalibrating X4 keeps what the unit hydrographs already hold: it still leaves, nothing is lost."""
    rain, pet = weather(40)
    before = simulate(rain, pet, Parameters(300, 0.0, 80, 5.5))
    after = simulate([0.0] * 30, [0.0] * 30, Parameters(300, 0.0, 80, 1.2), before.state)
    held = before.state.storage
    gone = after.discharge.sum() + after.evaporation.sum() - after.exchange.sum()
    assert held == pytest.approx(after.state.storage + gone, abs=1e-9)
    assert len(before.state.uh2) == 10 and len(after.state.uh2) == 2


def test_a_hand_checked_three_day_series() -> None:
    """X4 = 1 makes UH1 = [1] and UH2 = [0.5, 0.5]; each day computed from the paper's equations."""
    x1, x2, x3 = 100.0, 1.0, 50.0
    rain, pet = [10.0, 0.0, 5.0], [2.0, 3.0, 1.0]
    s, r, uh2_pending = 30.0, 25.0, 0.0  # the default start: 30 % and 50 % full
    expected = []
    for p, e in zip(rain, pet, strict=True):
        if p >= e:
            pn, en = p - e, 0.0
            ps = x1 * (1 - (s / x1) ** 2) * math.tanh(pn / x1) / (1 + s / x1 * math.tanh(pn / x1))
            es = 0.0
        else:
            pn, en, ps = 0.0, e - p, 0.0
            es = s * (2 - s / x1) * math.tanh(en / x1) / (1 + (1 - s / x1) * math.tanh(en / x1))
        s = s - es + ps
        perc = s * (1 - (1 + (4 / 9 * s / x1) ** 4) ** -0.25)
        s -= perc
        pr = perc + pn - ps
        q9 = 0.9 * pr  # UH1 releases everything the same day
        q1 = uh2_pending + 0.5 * 0.1 * pr  # UH2: half today, half tomorrow
        uh2_pending = 0.5 * 0.1 * pr
        f = x2 * (r / x3) ** 3.5
        r = max(0.0, r + q9 + f)
        qr = r * (1 - (1 + (r / x3) ** 4) ** -0.25)
        r -= qr
        expected.append(qr + max(0.0, q1 + f))
    result = simulate(rain, pet, Parameters(x1, x2, x3, 1.0))
    np.testing.assert_allclose(result.discharge, expected, rtol=1e-13)
    assert result.state.production == pytest.approx(s, rel=1e-13)
    assert result.state.routing == pytest.approx(r, rel=1e-13)
    assert result.state.uh1 == () and result.state.uh2 == pytest.approx((uh2_pending,))
    # day 1 on paper: Pn = 8, Ps = 91 tanh(0.08) / (1 + 0.3 tanh(0.08)) = 7.09459, S = 37.09459,
    # Perc = 0.00685, Pr = 0.91226; Q9 = 0.82103, Q1 = 0.04561, F = 0.5^3.5 = 0.08839,
    # R = 25.90942, Qr = 0.44707, Qd = 0.13400, Q = 0.58107
    assert result.discharge[0] == pytest.approx(0.58107, abs=2e-5)


def test_unit_hydrograph_ordinates() -> None:
    uh1, uh2 = ordinates(2.5)
    assert len(uh1) == 3 and len(uh2) == 5
    assert uh1.sum() == pytest.approx(1) and uh2.sum() == pytest.approx(1)
    assert uh1[0] == pytest.approx((1 / 2.5) ** 2.5)
    assert uh2[0] == pytest.approx(0.5 * (1 / 2.5) ** 2.5)
    assert uh2[4] == pytest.approx(0.5 * (2 - 4 / 2.5) ** 2.5)  # 1 - SH2(4)
    assert (uh1 > 0).all() and (uh2 > 0).all()


def test_many_parameter_sets_at_once_match_single_runs() -> None:
    rain, pet = weather(400)
    sets = np.array([[350, 0.5, 90, 1.7], [120, -3, 30, 4.2], [900, 2, 250, 0.8]])
    together = simulate_many(rain, pet, sets)
    for k, x in enumerate(sets):
        np.testing.assert_allclose(together[:, k], simulate(rain, pet, Parameters(*x)).discharge, rtol=1e-13)


def test_unit_conversion() -> None:
    assert to_m3s([1.0], 86.4)[0] == pytest.approx(1.0)  # 1 mm/day over 86.4 km2 is 1 m3/s
    np.testing.assert_allclose(to_mm_day(to_m3s([0.3, 12.0], 530.0), 530.0), [0.3, 12.0])
    with pytest.raises(HydrologyInputError, match="area must be > 0"):
        to_m3s([1.0], 0)


def test_bad_inputs_are_refused_with_the_reason() -> None:
    params = Parameters(300, 0, 80, 2)
    with pytest.raises(HydrologyInputError, match=r"precipitation must be >= 0; bad value\(s\) at index 2 \(-1\)"):
        simulate([0, 1, -1], [1, 1, 1], params)
    with pytest.raises(HydrologyInputError, match=r"pet has 1 missing value\(s\) at index 1"):
        simulate([0, 1], [1, float("nan")], params)
    with pytest.raises(HydrologyInputError, match="same length: precipitation has 2, pet has 3"):
        simulate([0, 1], [1, 1, 1], params)
    with pytest.raises(HydrologyInputError, match="x4 .* must be >= 0.5"):
        simulate([0], [0], Parameters(300, 0, 80, 0.2))
    with pytest.raises(HydrologyInputError, match="x1 .* must be > 0"):
        simulate([0], [0], Parameters(-1, 0, 80, 2))
    with pytest.raises(HydrologyInputError, match=r"state.production must be within \[0, x1=300\]"):
        simulate([0], [0], params, State(production=400, routing=10))
    with pytest.raises(HydrologyInputError, match="state.uh2 must be >= 0"):
        simulate([0], [0], params, State(production=100, routing=10, uh2=(1.0, -2.0)))
