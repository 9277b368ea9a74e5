"""Reading an application version's workflows: summaries, compiled definitions, CWL export.

Access is the catalogue's: whoever may read the application version may read its workflows.
Workflows are compiled against the components installed now, as a run started now would be.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from dte.domain.cwl import workflow_document
from dte.domain.definitions import WorkflowDefinition, WorkflowSummary
from dte.domain.errors import NotFound
from dte.domain.manifest import AppManifest
from dte.domain.workflows import CompiledWorkflow
from dte.services.access import Principal
from dte.services.catalogue import CatalogueService, manifest_of
from dte.services.components import application_workflows, own_components


class WorkflowService:
    def __init__(self, session: AsyncSession, catalogue: CatalogueService) -> None:
        self.session = session
        self.catalogue = catalogue

    async def _compiled(self, actor: Principal, application: str, version: str
                        ) -> tuple[AppManifest, dict[str, CompiledWorkflow]]:
        _, row = await self.catalogue.resolve(actor, application, version)
        manifest = manifest_of(row)
        return manifest, await application_workflows(self.session, manifest, own_components(row))

    async def _one(self, actor: Principal, application: str, version: str, workflow: str
                   ) -> tuple[AppManifest, CompiledWorkflow]:
        manifest, compiled = await self._compiled(actor, application, version)
        if workflow not in compiled:
            raise NotFound(f"{manifest.name} {manifest.version} has no workflow {workflow!r}; it has: "
                           f"{', '.join(compiled) or 'none'}", code="workflow_not_found")
        return manifest, compiled[workflow]

    async def list(self, actor: Principal, application: str, version: str) -> list[WorkflowSummary]:
        manifest, compiled = await self._compiled(actor, application, version)
        return [WorkflowSummary.of(w, manifest.workflows[name].description) for name, w in compiled.items()]

    async def definition(self, actor: Principal, application: str, version: str, workflow: str) -> WorkflowDefinition:
        _, compiled = await self._one(actor, application, version, workflow)
        return WorkflowDefinition(sha256=compiled.sha256, definition=compiled.definition())

    async def cwl(self, actor: Principal, application: str, version: str, workflow: str) -> dict[str, Any]:
        """The workflow as a CWL v1.2 document (see :mod:`dte.domain.cwl` for the mapping)."""
        manifest, compiled = await self._one(actor, application, version, workflow)
        return workflow_document(compiled, manifest.parameters)
