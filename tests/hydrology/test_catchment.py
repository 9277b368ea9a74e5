"""A catchment twin runs a workflow chained from ``hydrology.*`` components (Oudin PET -> GR4J ->
KGE, m3/s) through the engine on a real Dask cluster; bad input fails the run with its reason."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pytest
from dte_hydrology.gr4j import Parameters, simulate, to_m3s
from dte_hydrology.pet import oudin
from helpers import ADMIN_TOKEN, client_for
from starlette.testclient import TestClient

from dte.client import Client

APP = Path(__file__).parent / "catchment"
TRUTH = {"x1": 350.0, "x2": -0.6, "x3": 80.0, "x4": 2.1}
DAYS = 365


def forcing() -> tuple[list[float], list[float]]:
    rng = np.random.default_rng(21)
    rain = np.where(rng.random(DAYS) < 0.4, rng.gamma(0.8, 9.0, DAYS), 0.0).round(2)
    temperature = (10 + 9 * np.sin((np.arange(DAYS) - 110) * 2 * np.pi / 365) + rng.normal(0, 2, DAYS)).round(1)
    return rain.tolist(), temperature.tolist()


def catchment_twin(engine: TestClient) -> tuple[Client, str]:
    """Project 'basin' with the catchment application published and an active twin of it."""
    client = client_for(engine, ADMIN_TOKEN)
    client.project_create("basin")
    client.app_publish("basin", APP)
    twin = client.twin_create("basin", "upper-reach", "catchment", status="active",
                              parameters={**TRUTH, "latitude": 46.5, "area_km2": 250.0})
    return client, twin.id


def test_a_catchment_twin_simulates_its_discharge(engine: TestClient) -> None:
    client, twin = catchment_twin(engine)
    installed = {c.ref: c for c in client.component_list()}
    assert installed["hydrology.gr4j_run"].source == "module:dte-hydrology"
    assert installed["hydrology.gr4j_run"].version == "0.1.0"
    rain, temperature = forcing()
    # what the gauge saw: the same model, by the module's science functions here in the test process
    pet = oudin(temperature, 46.5, date(2024, 1, 1))
    expected = simulate(rain, pet, Parameters(**TRUTH))
    observed: list[float | None] = expected.discharge.tolist()
    observed[100:110] = [None] * 10  # a gauge outage is left out of the score

    run = client.run_start(twin, "simulate", {"start": "2024-01-01", "temperature": temperature,
                                                 "precipitation": rain, "observed": observed})
    done = client.run_wait(run.id, timeout=120)
    assert done.status == "succeeded", done.error
    assert client.run_output(done.id, "pet") == pytest.approx(pet.tolist(), rel=1e-12)
    assert client.run_output(done.id, "discharge") == pytest.approx(to_m3s(expected.discharge, 250.0).tolist(),
                                                                    rel=1e-12)
    assert client.run_output(done.id, "kge") == pytest.approx(1.0)
    state = client.run_output(done.id, "state")
    assert state["production"] == pytest.approx(expected.state.production)
    assert state["uh2"] == pytest.approx(list(expected.state.uh2))
    assert {s.name: s.component for s in done.steps or []} == {
        "pet": "hydrology.oudin_pet", "model": "hydrology.gr4j_run", "score": "hydrology.kge",
        "flow": "hydrology.to_m3s"}
    assert client.run_verify(done.id).valid


def test_negative_rain_fails_the_run_with_the_reason(engine: TestClient) -> None:
    client, twin = catchment_twin(engine)
    rain, temperature = forcing()
    rain[7] = -1.5
    done = client.run_wait(client.run_start(twin, "simulate", {
        "start": "2024-01-01", "temperature": temperature, "precipitation": rain, "observed": [1.0] * DAYS}).id,
        timeout=120)
    steps = {s.name: s for s in done.steps or []}
    assert done.status == "failed" and steps["model"].status == "failed"
    assert "precipitation must be >= 0; bad value(s) at index 7 (-1.5)" in (steps["model"].error or "")
    assert steps["pet"].status == "succeeded" and steps["score"].status == "skipped"
