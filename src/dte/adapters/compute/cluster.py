"""The engine's side of Dask: an embedded ``LocalCluster`` or an existing scheduler, by configuration.

Runs are submitted as one graph of futures (a step's future depends on the futures of the steps it
reads from), so Dask schedules them exactly as it would a hand-written graph.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import structlog
from distributed import Client, Future, LocalCluster

from dte.adapters.compute.worker import StepTask, describe_installed, run_step
from dte.domain.errors import DteError
from dte.domain.workflows import ComponentSpec

log = structlog.get_logger("dte.compute")


class ComputeUnavailable(DteError):
    def __init__(self, detail: str) -> None:
        super().__init__(detail, "compute_unavailable", 503)


class DaskCompute:
    """Started on first use (or at engine start with ``start()``); one client for the engine."""

    def __init__(self, scheduler: str | None, workers: int, threads_per_worker: int, memory_limit: str,
                 connect_timeout: float = 20.0) -> None:
        self.scheduler = scheduler
        self.workers = workers
        self.threads_per_worker = threads_per_worker
        self.memory_limit = memory_limit
        self.connect_timeout = connect_timeout
        self.client: Client | None = None
        self._cluster: LocalCluster | None = None
        self._starting: asyncio.Task[Client] | None = None

    @property
    def mode(self) -> str:
        return "external" if self.scheduler else "embedded"

    async def ensure(self) -> Client:
        if self.client is not None:
            return self.client
        if self._starting is None:
            self._starting = asyncio.create_task(self._start())
        try:
            return await asyncio.shield(self._starting)
        except Exception as exc:
            self._starting = None
            target = self.scheduler or "the embedded Dask cluster"
            raise ComputeUnavailable(f"cannot reach {target}: {exc}") from exc

    async def _start(self) -> Client:
        if self.scheduler:
            client = await Client(self.scheduler, asynchronous=True, timeout=self.connect_timeout)
        else:
            self._cluster = await LocalCluster(
                n_workers=self.workers, threads_per_worker=self.threads_per_worker, processes=True,
                memory_limit=self.memory_limit, dashboard_address=None, scheduler_kwargs={"dashboard": False},
                worker_dashboard_address=None, asynchronous=True,
                resources={"CPU": float(self.threads_per_worker)},
            )
            client = await Client(self._cluster, asynchronous=True)
        log.info("compute_started", mode=self.mode, scheduler=client.scheduler.address)
        self.client = client
        return client

    async def close(self) -> None:
        if self._starting is not None and not self._starting.done():
            self._starting.cancel()
        if self.client is not None:
            await self.client.close()
            self.client = None
        if self._cluster is not None:
            await self._cluster.close()
            self._cluster = None

    async def describe_installed(self) -> list[ComponentSpec]:
        """The components of the thematic modules installed on the workers (asked of a worker, so
        the engine process never imports module code)."""
        client = await self.ensure()
        specs = await client.submit(describe_installed, pure=False)
        return [ComponentSpec.model_validate(s) for s in specs]

    async def missing_resources(self, wanted: Mapping[str, float]) -> str | None:
        """Which wanted resource no worker offers (such a task would wait forever), or ``None``."""
        if not wanted:
            return None
        client = await self.ensure()
        info = await client.scheduler.identity()
        offered = [w.get("resources", {}) for w in info.get("workers", {}).values()]
        for name, amount in wanted.items():
            if not any(o.get(name, 0) >= amount for o in offered):
                return f"{name}={amount:g}"
        return None

    async def submit(self, tasks: list[StepTask], upstream: Mapping[str, list[str]],
                     resources: Mapping[str, dict[str, float]]) -> dict[str, Future]:
        """Submit a run's steps (in dependency order) as one graph; returns step name -> future."""
        client = await self.ensure()
        futures: dict[str, Future] = {}
        for task in tasks:
            options: dict[str, Any] = {"key": f"{task.step}-{task.run_id}", "pure": False}
            if resources.get(task.step):
                options["resources"] = resources[task.step]
            futures[task.step] = client.submit(run_step, task, *(futures[u] for u in upstream[task.step]), **options)
        return futures

    async def cancel(self, futures: list[Future]) -> None:
        if self.client is not None and futures:
            await self.client.cancel(futures, force=True)
