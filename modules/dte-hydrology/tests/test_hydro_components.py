"""The components as the engine sees them: specs under the ``hydrology`` namespace, called with JSON
values the way a worker calls them."""

from __future__ import annotations

import json
from importlib.metadata import entry_points

import pytest
from test_hydro_gr4j import weather

from dte.domain.workflows import compatible
from dte.sdk.component import call, components_of
from dte_hydrology import components
from dte_hydrology.cleaning import HydrologyInputError

PARAMS = {"x1": 350.0, "x2": -0.4, "x3": 90.0, "x4": 2.2}


def specs() -> dict:
    return {s.ref: s for s in components_of(components, "hydrology", "0.1.0", "module:dte-hydrology")}


def test_registered_by_entry_point_under_the_hydrology_namespace() -> None:
    point = next(p for p in entry_points(group="dte.components") if p.name == "hydrology")
    assert point.value == "dte_hydrology.components"
    found = specs()
    assert {"hydrology.gr4j_run", "hydrology.gr4j_step", "hydrology.calibrate_gr4j", "hydrology.oudin_pet",
            "hydrology.nse", "hydrology.kge", "hydrology.bias", "hydrology.rmse", "hydrology.flood_thresholds",
            "hydrology.annual_maxima", "hydrology.to_m3s", "hydrology.fill_gaps"} <= set(found)
    run = found["hydrology.gr4j_run"]
    assert set(run.outputs) == {"discharge", "state"}
    assert run.inputs["x1"].kind == "parameter" and run.inputs["precipitation"].kind == "input"
    assert not run.inputs["state"].required
    # the ports connect: PET into GR4J, GR4J into the metrics, a state into the next run
    assert compatible(found["hydrology.oudin_pet"].outputs["result"].schema_, run.inputs["pet"].schema_)
    assert compatible(run.outputs["discharge"].schema_, found["hydrology.kge"].inputs["simulated"].schema_)


def test_a_state_travels_as_json_between_runs() -> None:
    rain, pet = weather(200)
    whole = call(components.gr4j_run, {"precipitation": rain.tolist(), "pet": pet.tolist(), **PARAMS},
                 ("discharge", "state"))
    first = call(components.gr4j_run, {"precipitation": rain[:120].tolist(), "pet": pet[:120].tolist(), **PARAMS},
                 ("discharge", "state"))
    carried = json.loads(json.dumps(first["state"]))  # what a twin would store
    second = call(components.gr4j_run, {"precipitation": rain[120:].tolist(), "pet": pet[120:].tolist(),
                                        "state": carried, **PARAMS}, ("discharge", "state"))
    assert first["discharge"] + second["discharge"] == pytest.approx(whole["discharge"], rel=1e-12)
    step = call(components.gr4j_step, {"precipitation": 12.0, "pet": 1.0, "state": whole["state"], **PARAMS},
                ("discharge", "state"))
    assert step["discharge"] > 0 and set(step["state"]) == {"production", "routing", "uh1", "uh2"}


def test_a_bad_state_or_series_fails_with_the_reason() -> None:
    with pytest.raises(ValueError, match="routing"):
        call(components.gr4j_run, {"precipitation": [1.0], "pet": [1.0], "state": {"production": 1.0}, **PARAMS},
             ("discharge", "state"))
    with pytest.raises(HydrologyInputError, match=r"precipitation must be >= 0; bad value\(s\) at index 1"):
        components.gr4j_run([0.0, -3.0], [1.0, 1.0], **PARAMS)


def test_metrics_thresholds_and_conversions() -> None:
    assert call(components.kge, {"observed": [1, None, 3, 4], "simulated": [1, 7, 3, 4]}, ()) == {"result": 1.0}
    assert components.nse([1.0, 2.0, 3.0], [2.0, 2.0, 2.0]) == pytest.approx(0.0)
    levels = call(components.flood_thresholds, {"annual_maxima": [80, 120, 95, 150, 110, 101, 135]}, ())["result"]
    assert [lv["return_period"] for lv in levels["levels"]] == [2, 5, 10, 50]
    assert levels["levels"][0]["discharge"] < levels["levels"][-1]["discharge"] and levels["years"] == 7
    assert components.to_m3s([1.0, 2.0], area_km2=86.4) == pytest.approx([1.0, 2.0])
    assert components.annual_maxima([1.0] * 365 + [2.0] * 365, start="2021-01-01") == [1.0, 2.0]
    assert components.oudin_pet([15.0], latitude=-20.0, start="2024-09-02")[0] == pytest.approx(32.2 / 2.45 * 0.2,
                                                                                                 rel=0.01)


def test_input_preparation() -> None:
    assert components.fill_gaps([1.0, None, None, 4.0], max_gap=2) == [1.0, 2.0, 3.0, 4.0]
    with pytest.raises(HydrologyInputError, match="gap at index 1..3 is 3 values long, longer than max_gap=2"):
        components.fill_gaps([1.0, None, None, None, 5.0], max_gap=2)
    with pytest.raises(HydrologyInputError, match="touches the end"):
        components.fill_gaps([None, 1.0], max_gap=2)
    start, values = components.daily_series(["2024-03-02T00:00:00Z", "2024-03-01", "2024-03-03"], [2.0, 1.0, None])
    assert start == "2024-03-01" and values == [1.0, 2.0, None]
    with pytest.raises(HydrologyInputError, match="more than one value for day.* 2024-03-01"):
        components.daily_series(["2024-03-01", "2024-03-01T12:00:00"], [1.0, 2.0])
    with pytest.raises(HydrologyInputError, match="day.* missing after 2024-03-01"):
        components.daily_series(["2024-03-01", "2024-03-03"], [1.0, 2.0])
    with pytest.raises(HydrologyInputError, match="is not an ISO date"):
        components.oudin_pet([10.0], latitude=45.0, start="yesterday")
