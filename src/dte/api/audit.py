"""ASGI middleware that appends every mutating request and every denied access to the audit log -
including a ``404`` that hid another project's resource (the services note those denials) - and,
seeing every change first, empties the principal cache when tokens, users or memberships change.

It sits at the boundary on purpose: routes added later are audited without doing anything, and
the entry is durable before the caller sees the answer (it is written when the response starts).
"""

from __future__ import annotations

from typing import Any

import structlog
from sqlalchemy import select
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dte.adapters.db.tables import ProjectRow, TwinRow
from dte.api.identity import changes_identity
from dte.services.access import Principal, collect_denials
from dte.services.audit import AuditService

log = structlog.get_logger("dte.audit")
MUTATING = {"POST", "PUT", "PATCH", "DELETE"}
DENIED = {401, 403}


def outcome(status: int) -> str:
    if status in DENIED:
        return "denied"
    return "ok" if status < 400 else "failed"


class AuditTrail:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        denials = collect_denials()

        async def auditing(message: Message) -> None:
            if message["type"] == "http.response.start":
                status = message["status"]
                hidden = status == 404 and bool(denials)  # "not found" that hid a resource from the caller
                if scope["method"] in MUTATING or status in DENIED or hidden:
                    await self._record(scope, status, denials if hidden else [])
            await send(message)

        await self.app(scope, receive, auditing)

    async def _record(self, scope: Scope, status: int, denials: list[tuple[str, str]]) -> None:
        rt = getattr(scope["app"].state, "runtime", None)
        route = getattr(scope.get("route"), "path", None) or "unmatched"
        if rt is not None and rt.identity is not None and status < 400 and changes_identity(route):
            rt.identity.authenticator.cache.clear()  # before the caller can act on the change
        if rt is None or not rt.settings.audit_enabled:
            return
        state: dict[str, Any] = scope.get("state") or {}
        principal: Principal | None = state.get("principal")
        params: dict[str, Any] = scope.get("path_params") or {}
        detail: dict[str, Any] = {"client": (scope.get("client") or ("", 0))[0]}
        if principal is not None:
            detail["user_id"] = principal.user_id
        actor = principal.username if principal is not None else str(state.get("audit_actor") or "anonymous")
        try:
            async with rt.sessions() as session:
                project_id = denials[0][0] if denials else await _project_of(session, params)
                if denials:
                    detail["denied"] = denials[0][1]
                await AuditService(session).record(
                    actor=actor, action=f"{scope['method']} {route}", project_id=project_id,
                    resource=scope.get("path", ""), outcome="denied" if denials else outcome(status),
                    status=status, detail=detail)
        except Exception:  # the action is done; a lost audit entry is logged loudly, not turned into a 500
            log.exception("audit_write_failed", action=f"{scope['method']} {route}", status=status)


async def _project_of(session: Any, params: dict[str, Any]) -> str | None:
    """The project a request was about, when the path names it (directly or through a twin)."""
    if isinstance(params.get("project"), str):
        return await session.scalar(select(ProjectRow.id).where(ProjectRow.name == params["project"]))
    if isinstance(params.get("twin_id"), str):
        return await session.scalar(select(TwinRow.project_id).where(TwinRow.id == params["twin_id"]))
    return None
