"""The audit log: append-only and hash-chained.

Each entry's hash is the sha256 of its canonical JSON content including the previous entry's hash,
so changing, removing or reordering any entry breaks the chain from there on (``dte audit verify``).
Appends are serialized - PostgreSQL: a transaction-scoped advisory lock; SQLite: the write lock
``BEGIN IMMEDIATE`` takes - so concurrent writers, in one engine or several, keep the chain linear.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from dte.adapters.db.tables import AuditRow
from dte.adapters.db.types import utcnow
from dte.domain.errors import Forbidden
from dte.domain.identity import AuditEntry, AuditVerification
from dte.domain.projects import Role, Scope
from dte.services.access import Principal
from dte.services.paging import page
from dte.services.projects import project_by_name
from dte.services.uow import write

GENESIS = "0" * 64
_LOCK_KEY = 0x647465_617564  # "dte" "aud": the advisory lock of the chain head
_VERIFY_BATCH = 1000


def entry_hash(row: AuditRow) -> str:
    content = {"seq": row.seq, "at": row.at.isoformat(), "actor": row.actor, "action": row.action,
               "project_id": row.project_id, "resource": row.resource, "outcome": row.outcome,
               "status": row.status, "detail": row.detail, "prev_hash": row.prev_hash}
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


class AuditService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def record(self, *, actor: str, action: str, resource: str, outcome: str, status: int,
                     project_id: str | None = None, detail: dict[str, Any] | None = None) -> int:
        """Append one entry (its own transaction); returns its sequence number."""
        async with write(self.session):
            if self.session.bind is not None and self.session.bind.dialect.name == "postgresql":
                await self.session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
            head = (await self.session.execute(
                select(AuditRow.seq, AuditRow.hash).order_by(AuditRow.seq.desc()).limit(1))).first()
            row = AuditRow(seq=(head[0] + 1) if head else 1, at=utcnow(), actor=actor[:255], action=action[:200],
                           project_id=project_id, resource=resource[:500], outcome=outcome, status=status,
                           detail=detail or {}, prev_hash=head[1] if head else GENESIS)
            row.hash = entry_hash(row)
            self.session.add(row)
        return row.seq

    async def query(self, actor: Principal, project: str | None, who: str | None, outcome: str | None,
                    since: datetime | None, until: datetime | None, cursor: str | None,
                    limit: int) -> tuple[list[AuditEntry], str | None]:
        """Platform admins see everything; a project admin sees the entries of their project."""
        stmt = select(AuditRow)
        if project is not None:
            row = await project_by_name(self.session, actor, project)
            actor.require(row.id, Role.ADMIN, Scope.ADMIN, "")
            stmt = stmt.where(AuditRow.project_id == row.id)
        else:
            _platform_admin(actor)
        if who is not None:
            stmt = stmt.where(AuditRow.actor == who)
        if outcome is not None:
            stmt = stmt.where(AuditRow.outcome == outcome)
        if since is not None:
            stmt = stmt.where(AuditRow.at >= since)
        if until is not None:
            stmt = stmt.where(AuditRow.at < until)
        rows, next_cursor = await page(self.session, stmt, AuditRow.seq, cursor, limit, descending=True)
        return [AuditEntry.model_validate(r) for r in rows], next_cursor

    async def verify(self, actor: Principal) -> AuditVerification:
        """Walk the chain from the start: every hash recomputed, every link and sequence number checked."""
        _platform_admin(actor)
        expected_prev, expected_seq, count = GENESIS, 1, 0
        while True:
            rows = (await self.session.scalars(
                select(AuditRow).where(AuditRow.seq >= expected_seq).order_by(AuditRow.seq).limit(_VERIFY_BATCH)
            )).all()
            for row in rows:
                problem = None
                if row.seq != expected_seq:
                    problem = f"entry {expected_seq} is missing"
                elif row.prev_hash != expected_prev:
                    problem = "the link to the previous entry is broken (removed or reordered entries)"
                elif entry_hash(row) != row.hash:
                    problem = "the entry's content does not match its hash (modified)"
                if problem is not None:
                    await self.session.commit()
                    return AuditVerification(ok=False, entries=count, head=expected_prev if count else None,
                                             first_bad_seq=expected_seq, problem=problem)
                expected_prev, expected_seq, count = row.hash, row.seq + 1, count + 1
            if len(rows) < _VERIFY_BATCH:
                await self.session.commit()
                return AuditVerification(ok=True, entries=count, head=expected_prev if count else None)


def _platform_admin(actor: Principal) -> None:
    if not actor.platform_admin or actor.token_project_id is not None:
        raise Forbidden("the whole audit log is for platform admins; project admins pass ?project=",
                        code="insufficient_role")
