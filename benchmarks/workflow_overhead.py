"""What DTE adds to Dask per workflow step, measured against plain Dask on the same cluster in one run.

Two workloads, each run (a) through DTE - a published application's workflow started on a twin, until
its run is finished and signed - and (b) as a plain Dask graph of the same shape, submitted from the
same process to the same scheduler:

- ``dag200``: 200 pass-through steps in a binary tree (step i reads step (i-1)//2);
- ``chain40``: 40 steps of 10 ms each, every step reading the one before.

DTE's side includes everything a user waits for: validation, step records written to the database
(SQLite here), outputs hashed, the run manifest signed. Per-step overhead = (wall time - the steps'
own sleeping) / steps. The cluster is a ``LocalCluster`` of worker processes started by this script.
Run: ``python -m benchmarks.workflow_overhead [--repeat 5] [--workers 2] [--threads 2]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

RESULTS = Path(__file__).with_name("results") / "workflow_overhead.json"
ADMIN_TOKEN = "dte_pat_" + "w" * 43
STEP_SECONDS = 0.01


def passthrough(value: Any) -> Any:
    """Plain Dask's step: the same work as ``core.identity``."""
    return value


def pause(seconds: float, value: Any = None) -> Any:
    """Plain Dask's step: the same work as ``core.sleep``."""
    time.sleep(seconds)
    return value


def manifest() -> str:
    tree = {f"s{i}": {"component": "core.identity", "in": {"value": {"step": f"s{(i - 1) // 2}"} if i else 0}}
            for i in range(200)}
    chain = {f"c{i}": {"component": "core.sleep",
                       "in": {"seconds": STEP_SECONDS, **({"value": {"step": f"c{i - 1}"}} if i else {})}}
             for i in range(40)}
    return yaml.safe_dump({
        "name": "bench", "version": "1.0.0", "summary": "workflow overhead benchmark",
        "workflows": {"dag200": {"steps": tree}, "chain40": {"steps": chain}},
    }, sort_keys=False)


def plain_dask(client: Any, workload: str) -> float:
    """Submit the same graph with plain ``client.submit`` and wait for every task."""
    started = time.perf_counter()
    futures: list[Any] = []
    if workload == "dag200":
        for i in range(200):
            futures.append(client.submit(passthrough, futures[(i - 1) // 2] if i else 0, pure=False))
    else:
        for i in range(40):
            futures.append(client.submit(pause, STEP_SECONDS, *([futures[-1]] if i else []), pure=False))
    client.gather(futures)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    from distributed import Client as DaskClient
    from distributed import LocalCluster
    from starlette.testclient import TestClient

    from dte.api.app import create_app
    from dte.client import Client
    from dte.domain.runs import RunStart
    from dte.services.catalogue import CatalogueService
    from dte.services.runs import RunService
    from dte.services.twins import TwinService
    from dte.settings import Settings

    cluster = LocalCluster(n_workers=args.workers, threads_per_worker=args.threads, processes=True,
                           dashboard_address=None, scheduler_kwargs={"dashboard": False}, resources={"CPU": 2.0})
    dask = DaskClient(cluster)
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        settings = Settings(data_dir=root / "data", admin_token=ADMIN_TOKEN, dask_scheduler=cluster.scheduler_address,
                            compute_autostart=False, mqtt_embedded=False, log_level="warning",
                            rate_limit_per_minute=0)
        app_dir = root / "bench"
        app_dir.mkdir()
        (app_dir / "dte-app.yaml").write_text(manifest())
        with TestClient(create_app(settings)) as engine:
            http = TestClient(engine.app)
            http.portal = engine.portal
            client = Client("http://testserver", ADMIN_TOKEN, http=http)
            client.project_create("bench")
            client.app_publish("bench", app_dir)
            twin = client.twin_create("bench", "twin", "bench", status="active").id
            rt = engine.app.state.runtime

            async def through_dte(workload: str) -> tuple[float, str]:
                started = time.perf_counter()
                async with rt.sessions() as session:
                    twins = TwinService(session, CatalogueService(session, rt.objects, settings.max_bundle_bytes))
                    service = RunService(session, twins, rt.objects, rt.runs.signer, rt.runs.executor,
                                         settings.effective_objects_url, settings.inline_value_bytes)
                    principal = await twins_principal()
                    run = await service.start(principal, RunStart(twin=twin, workflow=workload))
                await rt.runs.executor.wait(run.id)
                elapsed = time.perf_counter() - started
                async with rt.sessions() as session:
                    from dte.adapters.db.tables import RunRow

                    status = (await session.get(RunRow, run.id)).status
                return elapsed, status

            async def twins_principal() -> Any:
                from dte.services.projects import UserService

                async with rt.sessions() as session:
                    return await UserService(session).authenticate(ADMIN_TOKEN)

            for workload in ("dag200", "chain40"):  # warm up: imports on the workers, compiled workflows
                engine.portal.call(through_dte, workload)
                plain_dask(dask, workload)

            rows = []
            for workload, steps, sleeping in (("dag200", 200, 0.0), ("chain40", 40, 40 * STEP_SECONDS)):
                dte_times, dask_times = [], []
                for _ in range(args.repeat):
                    elapsed, status = engine.portal.call(through_dte, workload)
                    assert status == "succeeded", status
                    dte_times.append(elapsed)
                    dask_times.append(plain_dask(dask, workload))
                dte_s, dask_s = statistics.median(dte_times), statistics.median(dask_times)
                dte_step = (dte_s - sleeping) / steps * 1000
                dask_step = (dask_s - sleeping) / steps * 1000
                rows.append({"workload": workload, "steps": steps, "dte_s": round(dte_s, 4),
                             "dask_s": round(dask_s, 4), "dte_ms_per_step": round(dte_step, 3),
                             "dask_ms_per_step": round(dask_step, 3),
                             "overhead_ratio": round(dte_step / dask_step, 2) if dask_step > 0 else None,
                             "dte_runs": [round(t, 4) for t in dte_times],
                             "dask_runs": [round(t, 4) for t in dask_times]})
    dask.close()
    cluster.close()

    print(f"{'workload':<10}{'steps':>6}{'DTE s':>9}{'Dask s':>9}{'DTE ms/step':>13}{'Dask ms/step':>14}{'ratio':>7}")
    for r in rows:
        print(f"{r['workload']:<10}{r['steps']:>6}{r['dte_s']:>9.3f}{r['dask_s']:>9.3f}{r['dte_ms_per_step']:>13.2f}"
              f"{r['dask_ms_per_step']:>14.2f}{r['overhead_ratio']:>7.2f}")
    print("target: DTE per-step overhead <= 2x plain Dask's")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps({"benchmark": "workflow_overhead", "repeat": args.repeat,
                                   "cluster": {"workers": args.workers, "threads_per_worker": args.threads},
                                   "machine": {"python": sys.version.split()[0], "platform": platform.platform()},
                                   "results": rows}, indent=2) + "\n")


if __name__ == "__main__":
    asyncio.run(asyncio.sleep(0))
    main()
