"""The component registry: components of the installed thematic modules (as the compute workers
describe them) plus each application version's own (from its bundle's component index)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Sequence

from anyio import to_thread
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from dte.adapters.compute.worker import installed_fingerprint
from dte.adapters.db.tables import ApplicationVersionRow, ComponentRow
from dte.adapters.db.types import utcnow
from dte.domain.manifest import AppManifest
from dte.domain.workflows import CompiledWorkflow, ComponentSpec, compile_application
from dte.services.uow import write


async def installed(session: AsyncSession) -> dict[str, ComponentSpec]:
    rows = await session.scalars(select(ComponentRow))
    return {r.ref: ComponentSpec.model_validate(r.spec) for r in rows}


async def replace_installed(session: AsyncSession, specs: Sequence[ComponentSpec]) -> None:
    """What the workers have installed now replaces what they had before."""
    async with write(session):
        await session.execute(delete(ComponentRow))
        now = utcnow()
        session.add_all(ComponentRow(ref=s.ref, version=s.version, source=s.source, updated_at=now,
                                     spec=s.model_dump(mode="json", by_alias=True, exclude_none=True)) for s in specs)


_described: dict[str, list[ComponentSpec]] = {}


def describe_host() -> list[ComponentSpec]:
    """The installed modules' components on this host, described by a child process (this process
    never imports module code); remembered per set of installed modules."""
    fingerprint = installed_fingerprint()
    if fingerprint not in _described:
        done = subprocess.run([sys.executable, "-m", "dte.adapters.compute.worker"], capture_output=True, text=True,
                              timeout=300, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"describing the installed modules failed: {done.stderr.strip()[-2000:]}")
        _described[fingerprint] = [ComponentSpec.model_validate(s) for s in json.loads(done.stdout)]
    return _described[fingerprint]


async def refresh_from_host(session: AsyncSession) -> int:
    specs = await to_thread.run_sync(describe_host)
    await replace_installed(session, specs)
    return len(specs)


def own_components(version: ApplicationVersionRow) -> dict[str, ComponentSpec]:
    return {c["ref"]: ComponentSpec.model_validate(c) for c in version.components}


async def application_workflows(session: AsyncSession, manifest: AppManifest,
                                own: dict[str, ComponentSpec]) -> dict[str, CompiledWorkflow]:
    """Compile every workflow of an application against its own and the installed components."""
    return compile_application(manifest, {**await installed(session), **own})
