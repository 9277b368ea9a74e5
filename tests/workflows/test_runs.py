"""Runs end to end on a real Dask cluster: outputs, failures, retries, timeouts, artifacts, caching,
worker deaths, cancellation, live progress, provenance and signed manifests."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from helpers import ADMIN_TOKEN, client_for, lab
from starlette.testclient import TestClient

from dte.client import ApiError, Client


def test_chain_on_both_databases(engine: TestClient) -> None:
    """Inputs from the run, twin parameters and other steps; outputs, logs, PROV-JSON and signature."""
    client = client_for(engine, ADMIN_TOKEN)
    twin = lab(client)
    run = client.run_start(twin, "chain", {"x": 1.5})
    assert run.status in ("queued", "running") and run.steps_total == 3
    done = client.run_wait(run.id)
    assert done.status == "succeeded", done.error
    assert client.run_output(run.id, "result") == 1.5 * 3 * 2  # factor parameter 3, then the default 2
    assert client.run_output(run.id, "said") == "HELLO"
    assert {s.name: s.status for s in done.steps or []} == {"first": "succeeded", "second": "succeeded",
                                                           "loud": "succeeded"}
    logs = {entry.step: entry.logs for entry in client.run_logs(run.id)}
    assert "saying hello" in logs["loud"] and "logged hello" in logs["loud"]

    prov = client.run_provenance(run.id)
    assert f"run:{run.id}" in prov["activity"] and f"run:{run.id}/second" in prov["activity"]
    assert "user:admin" in prov["agent"] and "app:wfapp@1.0.0" in prov["agent"]
    generated = {r["prov:entity"] for r in prov["wasGeneratedBy"].values()}
    assert f"sha256:{done.outputs['result']['sha256']}" in generated

    check = client.run_verify(run.id)
    assert check.valid and check.signature_valid and check.records_match, check.problems
    assert check.manifest is not None and check.manifest["definition_sha256"] == done.definition_sha256


def test_a_failing_step_fails_the_run_with_its_error_and_logs(wf: tuple[Client, str]) -> None:
    client, twin = wf
    done = client.run_wait(client.run_start(twin, "fails").id)
    steps = {s.name: s for s in done.steps or []}
    assert done.status == "failed" and "broken" in done.error and "BEFORE THE FAILURE" in done.error
    assert steps["broken"].status == "failed" and "RuntimeError" in steps["broken"].error
    assert steps["never"].status == "skipped"  # downstream of the failure
    assert steps["after"].status == "succeeded"  # independent of it
    logs = client.run_logs(done.id, "broken")[0]
    assert "Traceback" in logs.logs and "BEFORE THE FAILURE" in logs.logs
    assert client.run_verify(done.id).valid  # failed runs are signed too


def test_retries_with_backoff_then_success_or_clean_failure(wf: tuple[Client, str], tmp_path: Path) -> None:
    client, twin = wf
    done = client.run_wait(client.run_start(twin, "retry", {"marker": str(tmp_path / "a")}).id)
    assert done.status == "succeeded" and client.run_output(done.id, "result") == 3
    assert (done.steps or [])[0].attempts == 3
    assert client.run_logs(done.id)[0].logs.count("fails on purpose") == 2

    exhausted = client.run_wait(client.run_start(twin, "retry-exhausted", {"marker": str(tmp_path / "b")}).id)
    assert exhausted.status == "failed" and "ConnectionError" in exhausted.error
    assert (exhausted.steps or [])[0].attempts == 2


def test_a_step_that_exceeds_its_timeout_fails(wf: tuple[Client, str]) -> None:
    client, twin = wf
    done = client.run_wait(client.run_start(twin, "timeout").id)
    assert done.status == "failed" and "timed out after 0.3 s" in done.error


def test_large_values_travel_as_artifacts(wf: tuple[Client, str]) -> None:
    client, twin = wf
    done = client.run_wait(client.run_start(twin, "big").id)
    assert done.status == "succeeded", done.error
    values = done.outputs["values"]
    assert values.get("artifact") and "value" not in values and values["size"] > 16 * 1024
    assert client.run_output(done.id, "total") == sum(i * 0.5 for i in range(20000))
    assert len(json.loads(client.run_output_bytes(done.id, "values"))) == 20000
    assert client.run_verify(done.id).artifacts_intact


def test_cached_steps_reuse_earlier_outputs(wf: tuple[Client, str]) -> None:
    client, twin = wf
    first = client.run_wait(client.run_start(twin, "cached", {"x": 41}).id)
    second = client.run_wait(client.run_start(twin, "cached", {"x": 41}).id)
    other = client.run_wait(client.run_start(twin, "cached", {"x": 1}).id)
    assert [r.status for r in (first, second, other)] == ["succeeded"] * 3
    assert [(r.steps or [])[0].cached for r in (first, second, other)] == [False, True, False]
    assert client.run_output(second.id, "result") == 42 and client.run_output(other.id, "result") == 2


def test_a_killed_worker_leads_to_a_retry(wf: tuple[Client, str], tmp_path: Path) -> None:
    client, twin = wf
    done = client.run_wait(client.run_start(twin, "kill", {"marker": str(tmp_path / "k")}).id, timeout=120)
    assert done.status == "succeeded", done.error
    assert client.run_output(done.id, "result") == "survived"
    assert (tmp_path / "k").read_text() == "2"  # the first attempt died with its worker


def test_cancel_a_running_run(wf: tuple[Client, str]) -> None:
    client, twin = wf
    run = client.run_start(twin, "slow")
    cancelled = client.run_cancel(run.id)
    assert cancelled.status == "cancelled" and cancelled.error == "cancelled by admin"
    assert [s.status for s in cancelled.steps or []] == ["cancelled"]
    with pytest.raises(ApiError) as caught:
        client.run_cancel(run.id)
    assert caught.value.status == 409 and caught.value.code == "run_finished"
    assert client.run_verify(run.id).valid


def test_live_progress_until_the_run_finishes(wf: tuple[Client, str]) -> None:
    client, twin = wf
    run = client.run_start(twin, "chain", {"x": 2})
    seen = list(client.run_progress(run.id))
    assert seen[-1].status == "succeeded" and seen[-1].steps_done == seen[-1].steps_total == 3
    assert [p.steps_done for p in seen] == sorted(p.steps_done for p in seen)


def test_a_resource_no_worker_offers_fails_the_run_instead_of_hanging(wf: tuple[Client, str]) -> None:
    client, twin = wf
    done = client.run_wait(client.run_start(twin, "gpu").id, timeout=30)
    assert done.status == "failed" and "GPU=1" in done.error


def test_state_inputs_come_from_the_twin(wf: tuple[Client, str]) -> None:
    client, twin = wf
    with pytest.raises(ApiError) as caught:
        client.run_start(twin, "state")
    assert caught.value.status == 422 and caught.value.code == "invalid_inputs"
    assert caught.value.errors[0]["pointer"] == "/steps/latest/in/x"
    assert "has the physical twin reported it" in caught.value.errors[0]["detail"]
    client.twin_set_state(twin, "reported", {"level": {"value": 1.25}})
    done = client.run_wait(client.run_start(twin, "state").id)
    assert client.run_output(done.id, "result") == 2.5
    assert done.trigger.context["twin_revision"] == 2


def test_runs_can_be_listed_and_filtered(wf: tuple[Client, str]) -> None:
    client, twin = wf
    ids = [client.run_start(twin, "chain", {"x": i}).id for i in range(3)]
    for run_id in ids:
        client.run_wait(run_id)
    listed = client.run_list(twin="lab/wf", workflow="chain").items
    assert [r.id for r in listed] == ids[::-1]  # newest first
    assert client.run_list(project="lab", status="failed").items == []
    page = client.run_list(project="lab", limit=2)
    assert len(page.items) == 2 and page.next_cursor


def test_concurrent_runs_do_not_interfere(wf: tuple[Client, str]) -> None:
    client, twin = wf
    results: dict[int, float] = {}

    def go(x: int) -> None:
        run = client.run_start(twin, "chain", {"x": x})
        client.run_wait(run.id)
        results[x] = client.run_output(run.id, "result")

    threads = [threading.Thread(target=go, args=(x,)) for x in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == {x: x * 6.0 for x in range(6)}
