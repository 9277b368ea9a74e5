"""The run engine's place in the engine's lifespan: compute cluster, signing key, executor."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from dte.adapters.compute.cluster import DaskCompute
from dte.adapters.signing import Signer
from dte.api.deps import Runtime
from dte.services.catalogue import CatalogueService
from dte.services.components import replace_installed
from dte.services.executor import RunEngine, RunExecutor
from dte.services.runs import RunService
from dte.services.triggers import TriggerService
from dte.services.twins import TwinService

log = structlog.get_logger("dte.compute")


async def _warm_up(rt: Runtime, compute: DaskCompute) -> None:
    """Start compute in the background; an external cluster's workers say which modules they have."""
    try:
        await compute.ensure()
        if compute.mode == "external":
            specs = await compute.describe_installed()
            async with rt.sessions() as session:
                await replace_installed(session, specs)
    except Exception as exc:  # runs report it when they need compute; the engine serves meanwhile
        log.warning("compute_not_started", error=str(exc))


@asynccontextmanager
async def running(rt: Runtime) -> AsyncIterator[RunEngine]:
    settings = rt.settings
    compute = DaskCompute(settings.dask_scheduler, settings.dask_workers, settings.dask_threads_per_worker,
                          settings.dask_memory_limit)
    signer = Signer.load_or_create(settings.signing_key_file or settings.data_dir / "signing-key.pem")
    executor = RunExecutor(rt.sessions, compute, signer, rt.events, settings.run_lease_seconds)
    rt.runs = RunEngine(compute=compute, signer=signer, executor=executor)

    def runs(session: AsyncSession) -> RunService:
        twins = TwinService(session, CatalogueService(session, rt.objects, settings.max_bundle_bytes))
        return RunService(session, twins, rt.objects, signer, executor, settings.effective_objects_url,
                          settings.inline_value_bytes)

    triggers = TriggerService(rt.sessions, rt.events, runs)
    warm_up = asyncio.create_task(_warm_up(rt, compute)) if settings.compute_autostart else None
    try:
        async with executor.serving(), triggers.running():
            yield rt.runs
    finally:
        if warm_up is not None:
            warm_up.cancel()
        await compute.close()
