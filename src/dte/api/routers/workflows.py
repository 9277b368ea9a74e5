"""The workflows of an application version: summaries, compiled definitions, CWL v1.2 export."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Response

from dte.api.deps import Caller, Catalogue, Session
from dte.domain.cwl import dump_document
from dte.domain.definitions import WorkflowDefinition, WorkflowSummary
from dte.services.workflows import WorkflowService

router = APIRouter(prefix="/api/v1/applications/{name}/versions/{version}/workflows", tags=["catalogue"])
CWL_MEDIA_TYPES = {"yaml": "application/yaml", "json": "application/json"}


def workflow_service(db: Session, catalogue: Catalogue) -> WorkflowService:
    return WorkflowService(db, catalogue)


Workflows = Annotated[WorkflowService, Depends(workflow_service)]


@router.get("", summary="Workflows of a version ('latest' works), compiled: sha256, inputs, steps")
async def list_workflows(name: str, version: str, caller: Caller, svc: Workflows) -> list[WorkflowSummary]:
    return await svc.list(caller, name, version)


@router.get("/{workflow}", summary="A workflow's compiled definition (what its sha256 is taken over)")
async def get_workflow(name: str, version: str, workflow: str, caller: Caller, svc: Workflows) -> WorkflowDefinition:
    return await svc.definition(caller, name, version, workflow)


@router.get("/{workflow}/cwl", summary="A workflow as a CWL v1.2 Workflow document",
            response_class=Response, responses={200: {"content": {m: {} for m in CWL_MEDIA_TYPES.values()}}})
async def export_workflow(name: str, version: str, workflow: str, caller: Caller, svc: Workflows,
                          fmt: Annotated[Literal["yaml", "json"], Query(alias="format", description="yaml or json")] = "yaml",
                          ) -> Response:
    document = await svc.cwl(caller, name, version, workflow)
    return Response(dump_document(document, fmt), media_type=CWL_MEDIA_TYPES[fmt], headers={
        "Content-Disposition": f'inline; filename="{name}-{workflow}.cwl"'})
