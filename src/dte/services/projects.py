"""Projects and their members; users and personal access tokens."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from dte.adapters.db.tables import MembershipRow, ProjectRow, TokenRow, UserRow
from dte.adapters.db.types import utcnow
from dte.domain import projects as m
from dte.domain.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthenticated
from dte.domain.projects import Role, Scope
from dte.services.access import Principal
from dte.services.paging import page
from dte.services.uow import write

TOKEN_PREFIX = "dte_pat_"
_LAST_USED_RESOLUTION = timedelta(minutes=1)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


async def project_by_name(session: AsyncSession, actor: Principal, name: str) -> ProjectRow:
    """The project, if the caller may see it; otherwise the same 404 as for a missing one."""
    row = await session.scalar(select(ProjectRow).where(ProjectRow.name == name))
    if row is None or not actor.can_see(row.id):
        raise NotFound(f"project {name!r} does not exist or you are not a member", code="project_not_found")
    return row


def _project_out(row: ProjectRow, actor: Principal) -> m.Project:
    return m.Project(id=row.id, name=row.name, title=row.title, description=row.description,
                     created_at=row.created_at, role=actor.role_in(row.id))


class ProjectService:
    def __init__(self, session: AsyncSession, allow_project_creation: bool = False) -> None:
        self.session = session
        self.allow_project_creation = allow_project_creation

    async def create(self, actor: Principal, body: m.ProjectCreate) -> m.Project:
        if not (actor.platform_admin or self.allow_project_creation):
            raise Forbidden("only platform admins may create projects", code="insufficient_role")
        if Scope.WRITE not in actor.scopes or actor.token_project_id is not None:
            raise Forbidden("this token may not create projects", code="insufficient_scope")
        async with write(self.session):
            if await self.session.scalar(select(ProjectRow.id).where(ProjectRow.name == body.name)):
                raise Conflict(f"a project named {body.name!r} already exists", code="project_exists")
            row = ProjectRow(name=body.name, title=body.title or body.name, description=body.description)
            self.session.add(row)
            await self.session.flush()
            self.session.add(MembershipRow(project_id=row.id, user_id=actor.user_id, role=Role.ADMIN))
        return _project_out(row, _with_role(actor, row.id, Role.ADMIN))

    async def list(self, actor: Principal, cursor: str | None, limit: int) -> tuple[list[m.Project], str | None]:
        stmt = select(ProjectRow)
        visible = actor.visible_projects()
        if visible is not None:
            stmt = stmt.where(ProjectRow.id.in_(visible))
        rows, next_cursor = await page(self.session, stmt, ProjectRow.name, cursor, limit)
        return [_project_out(r, actor) for r in rows], next_cursor

    async def get(self, actor: Principal, name: str) -> m.Project:
        return _project_out(await project_by_name(self.session, actor, name), actor)

    async def members(self, actor: Principal, name: str) -> list[m.Member]:
        project = await project_by_name(self.session, actor, name)
        rows = await self.session.execute(
            select(UserRow.username, MembershipRow.role, MembershipRow.added_at)
            .join(MembershipRow, MembershipRow.user_id == UserRow.id)
            .where(MembershipRow.project_id == project.id)
            .order_by(UserRow.username)
        )
        return [m.Member(username=u, role=Role(r), added_at=a) for u, r, a in rows]

    async def _membership(self, actor: Principal, name: str,
                          username: str) -> tuple[ProjectRow, UserRow, MembershipRow | None]:
        """For member changes: the project (admins only), the user and their membership if any."""
        project = await project_by_name(self.session, actor, name)
        actor.require(project.id, Role.ADMIN, Scope.ADMIN, "")
        user = await _user_by_name(self.session, username)
        return project, user, await self.session.get(MembershipRow, (project.id, user.id))

    async def set_member(self, actor: Principal, name: str, username: str, role: Role) -> m.Member:
        async with write(self.session):
            project, user, row = await self._membership(actor, name, username)
            if row is None:
                row = MembershipRow(project_id=project.id, user_id=user.id, role=role)
                self.session.add(row)
            else:
                if row.role == Role.ADMIN and role != Role.ADMIN:
                    await self._keep_an_admin(project.id, user.id)
                row.role = role
            await self.session.flush()
        return m.Member(username=user.username, role=role, added_at=row.added_at)

    async def remove_member(self, actor: Principal, name: str, username: str) -> None:
        async with write(self.session):
            project, user, row = await self._membership(actor, name, username)
            if row is None:
                raise NotFound(f"{username!r} is not a member of {name!r}", code="member_not_found")
            if row.role == Role.ADMIN:
                await self._keep_an_admin(project.id, user.id)
            await self.session.delete(row)

    async def _keep_an_admin(self, project_id: str, leaving_user_id: str) -> None:
        others = await self.session.scalar(
            select(func.count()).select_from(MembershipRow).where(
                MembershipRow.project_id == project_id,
                MembershipRow.role == Role.ADMIN,
                MembershipRow.user_id != leaving_user_id,
            )
        )
        if not others:
            raise Conflict("a project must keep at least one admin", code="last_admin")


def _with_role(actor: Principal, project_id: str, role: Role) -> Principal:
    return Principal(actor.user_id, actor.username, actor.platform_admin, {**actor.roles, project_id: role},
                     actor.scopes, actor.token_project_id)


async def _user_by_name(session: AsyncSession, username: str) -> UserRow:
    user = await session.scalar(select(UserRow).where(UserRow.username == username))
    if user is None:
        raise NotFound(f"user {username!r} does not exist", code="user_not_found")
    return user


def _token_out(row: TokenRow, project_name: str | None) -> m.Token:
    return m.Token(id=row.id, name=row.name, scopes=[Scope(s) for s in row.scopes], project=project_name,
                   created_at=row.created_at, expires_at=row.expires_at, revoked_at=row.revoked_at,
                   last_used_at=row.last_used_at)


class UserService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def authenticate(self, secret: str) -> Principal:
        """The principal behind a personal access token, or :class:`Unauthenticated`."""
        if not secret.startswith(TOKEN_PREFIX) or len(secret) > 200:
            raise Unauthenticated("the bearer token is not a DTE token", code="invalid_token")
        found = (await self.session.execute(
            select(TokenRow, UserRow).join(UserRow, UserRow.id == TokenRow.user_id)
            .where(TokenRow.secret_sha256 == hash_secret(secret))
        )).first()
        now = utcnow()
        if found is None:
            raise Unauthenticated("the token is not valid", code="invalid_token")
        token, user = found
        if token.revoked_at is not None:
            raise Unauthenticated("the token has been revoked", code="invalid_token")
        if token.expires_at is not None and token.expires_at <= now:
            raise Unauthenticated("the token has expired", code="invalid_token")
        roles = (await self.session.execute(
            select(MembershipRow.project_id, MembershipRow.role).where(MembershipRow.user_id == user.id)
        )).all()
        principal = Principal(
            user_id=user.id, username=user.username, platform_admin=user.platform_admin,
            roles={p: Role(r) for p, r in roles}, scopes=frozenset(Scope(s) for s in token.scopes),
            token_project_id=token.project_id,
        )
        stale = token.last_used_at is None or now - token.last_used_at > _LAST_USED_RESOLUTION
        await self.session.commit()
        if stale:  # recorded at most once a minute, so reads stay reads
            async with write(self.session):
                await self.session.execute(update(TokenRow).where(TokenRow.id == token.id).values(last_used_at=now))
        return principal

    async def me(self, actor: Principal) -> m.Me:
        user = await self.session.get(UserRow, actor.user_id)
        if user is None:
            raise Unauthenticated("the token's user no longer exists", code="invalid_token")
        names = dict((await self.session.execute(
            select(ProjectRow.id, ProjectRow.name).where(ProjectRow.id.in_(list(actor.roles)))
        )).all())
        memberships = {names[p]: r for p, r in actor.roles.items() if p in names and actor.role_in(p)}
        return m.Me(**m.User.model_validate(user).model_dump(), memberships=memberships,
                    scopes=sorted(actor.scopes))

    async def create_user(self, actor: Principal, body: m.UserCreate) -> m.User:
        actor.require_platform_admin()
        async with write(self.session):
            if await self.session.scalar(select(UserRow.id).where(UserRow.username == body.username)):
                raise Conflict(f"a user named {body.username!r} already exists", code="user_exists")
            row = UserRow(**body.model_dump())
            self.session.add(row)
        return m.User.model_validate(row)

    async def list_users(self, actor: Principal, cursor: str | None, limit: int) -> tuple[list[m.User], str | None]:
        actor.require_platform_admin()
        rows, next_cursor = await page(self.session, select(UserRow), UserRow.username, cursor, limit)
        return [m.User.model_validate(r) for r in rows], next_cursor

    async def create_token(self, actor: Principal, body: m.TokenCreate, username: str | None = None) -> m.TokenSecret:
        """A new token for the caller (or, for platform admins, for ``username``); secret shown once."""
        async with write(self.session):
            if username is None or username == actor.username:
                owner = await self.session.get(UserRow, actor.user_id)
                if actor.token_project_id is not None or not set(body.scopes) <= actor.scopes:
                    raise Forbidden("a token cannot create a token with more rights than itself", code="insufficient_scope")
            else:
                actor.require_platform_admin()
                owner = await _user_by_name(self.session, username)
            assert owner is not None
            project_id = None
            if body.project is not None:
                project = await self.session.scalar(select(ProjectRow).where(ProjectRow.name == body.project))
                member = project and await self.session.get(MembershipRow, (project.id, owner.id))
                if project is None or not (member or owner.platform_admin):
                    raise InvalidInput(f"{owner.username!r} is not a member of project {body.project!r}",
                                       code="invalid_token_project")
                project_id = project.id
            secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
            expires = utcnow() + timedelta(days=body.expires_in_days) if body.expires_in_days else None
            row = TokenRow(user_id=owner.id, name=body.name, secret_sha256=hash_secret(secret),
                           scopes=sorted(set(body.scopes)), project_id=project_id, expires_at=expires)
            self.session.add(row)
            await self.session.flush()
        return m.TokenSecret(**_token_out(row, body.project).model_dump(), secret=secret)

    async def list_tokens(self, actor: Principal) -> list[m.Token]:
        rows = await self.session.execute(
            select(TokenRow, ProjectRow.name).outerjoin(ProjectRow, ProjectRow.id == TokenRow.project_id)
            .where(TokenRow.user_id == actor.user_id).order_by(TokenRow.id)
        )
        return [_token_out(t, p) for t, p in rows]

    async def revoke_token(self, actor: Principal, token_id: str) -> None:
        """Your own tokens (write scope); anyone's for a platform admin with an unrestricted admin token."""
        async with write(self.session):
            row = await self.session.get(TokenRow, token_id)
            own = row is not None and row.user_id == actor.user_id
            admin = actor.platform_admin and Scope.ADMIN in actor.scopes and actor.token_project_id is None
            if row is None or not (own or admin):
                raise NotFound(f"token {token_id!r} does not exist", code="token_not_found")
            if Scope.WRITE not in actor.scopes:
                raise Forbidden("this token lacks the write scope", code="insufficient_scope")
            if row.revoked_at is None:
                row.revoked_at = utcnow()

    async def bootstrap(self, username: str, secret: str | None) -> str | None:
        """On an empty engine: create the platform admin and its first token; return the secret.

        Returns None when users already exist (nothing is created and no secret is shown again).
        """
        async with write(self.session):
            if await self.session.scalar(select(func.count()).select_from(UserRow)):
                return None
            user = UserRow(username=username, display_name="Platform administrator", platform_admin=True)
            self.session.add(user)
            await self.session.flush()
            secret = secret or TOKEN_PREFIX + secrets.token_urlsafe(32)
            self.session.add(TokenRow(user_id=user.id, name="bootstrap", secret_sha256=hash_secret(secret),
                                      scopes=sorted(Scope), project_id=None, expires_at=None))
        return secret
