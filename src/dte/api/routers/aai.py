"""Passwords, OAuth clients and the audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Response

from dte.api.deps import Caller, Session, utc
from dte.api.params import CursorQ, LimitQ
from dte.api.routers.oidc import Issuer
from dte.domain.common import Page
from dte.domain.identity import AuditEntry, AuditVerification, Client, ClientCreate, ClientSecret, PasswordSet
from dte.services.audit import AuditService

router = APIRouter(prefix="/api/v1", tags=["aai"])


def audit(db: Session) -> AuditService:
    return AuditService(db)


Audit = Annotated[AuditService, Depends(audit)]


@router.put("/users/{username}/password", status_code=204,
            summary="Set a password for the login page (your own; anyone's as platform admin)")
async def set_password(username: str, body: PasswordSet, caller: Caller, svc: Issuer) -> Response:
    await svc.set_password(caller, username, body.password)
    return Response(status_code=204)


@router.post("/clients", status_code=201, summary="Register an OAuth client (platform admin); secret shown once")
async def create_client(body: ClientCreate, caller: Caller, svc: Issuer) -> ClientSecret:
    return await svc.create_client(caller, body)


@router.get("/clients", summary="OAuth clients (platform admin)")
async def list_clients(caller: Caller, svc: Issuer) -> list[Client]:
    return await svc.list_clients(caller)


@router.delete("/clients/{client_id}", status_code=204, summary="Remove an OAuth client and its service user")
async def delete_client(client_id: str, caller: Caller, svc: Issuer) -> Response:
    await svc.delete_client(caller, client_id)
    return Response(status_code=204)


@router.get("/audit", summary="Audit log, newest first (platform admin; project admins with ?project=)")
async def list_audit(
    caller: Caller, svc: Audit, project: str | None = None, actor: str | None = None,
    outcome: Annotated[Literal["ok", "denied", "failed"] | None, Query()] = None,
    since: datetime | None = None, until: datetime | None = None, cursor: CursorQ = None, limit: LimitQ = 50,
) -> Page[AuditEntry]:
    items, next_cursor = await svc.query(caller, project, actor, outcome, utc(since, "since"), utc(until, "until"),
                                         cursor, limit)
    return Page(items=items, next_cursor=next_cursor)


@router.get("/audit/verify", summary="Check the audit chain: any modified, removed or reordered entry")
async def verify_audit(caller: Caller, svc: Audit) -> AuditVerification:
    return await svc.verify(caller)
