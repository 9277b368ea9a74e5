"""Projects, members, users and personal access tokens."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from dte.api.deps import Caller, Projects, Users
from dte.api.params import CursorQ, LimitQ
from dte.domain.common import Page
from dte.domain.projects import (
    Me,
    Member,
    MemberSet,
    Project,
    ProjectCreate,
    Token,
    TokenCreate,
    TokenSecret,
    User,
    UserCreate,
)

router = APIRouter(prefix="/api/v1", tags=["projects"])


@router.get("/me", summary="The caller: user, memberships and token scopes")
async def me(caller: Caller, svc: Users) -> Me:
    return await svc.me(caller)


@router.post("/projects", status_code=status.HTTP_201_CREATED, summary="Create a project (you become its admin)")
async def create_project(body: ProjectCreate, caller: Caller, svc: Projects) -> Project:
    return await svc.create(caller, body)


@router.get("/projects", summary="Projects you are a member of")
async def list_projects(caller: Caller, svc: Projects, cursor: CursorQ = None, limit: LimitQ = 50) -> Page[Project]:
    items, next_cursor = await svc.list(caller, cursor, limit)
    return Page(items=items, next_cursor=next_cursor)


@router.get("/projects/{project}", summary="One project")
async def get_project(project: str, caller: Caller, svc: Projects) -> Project:
    return await svc.get(caller, project)


@router.get("/projects/{project}/members", summary="Members and their roles")
async def list_members(project: str, caller: Caller, svc: Projects) -> list[Member]:
    return await svc.members(caller, project)


@router.put("/projects/{project}/members/{username}", summary="Add a member or change their role (project admin)")
async def set_member(project: str, username: str, body: MemberSet, caller: Caller, svc: Projects) -> Member:
    return await svc.set_member(caller, project, username, body.role)


@router.delete("/projects/{project}/members/{username}", status_code=204, summary="Remove a member (project admin)")
async def remove_member(project: str, username: str, caller: Caller, svc: Projects) -> Response:
    await svc.remove_member(caller, project, username)
    return Response(status_code=204)


@router.post("/users", status_code=201, summary="Create a user (platform admin)")
async def create_user(body: UserCreate, caller: Caller, svc: Users) -> User:
    return await svc.create_user(caller, body)


@router.get("/users", summary="List users (platform admin)")
async def list_users(caller: Caller, svc: Users, cursor: CursorQ = None, limit: LimitQ = 50) -> Page[User]:
    items, next_cursor = await svc.list_users(caller, cursor, limit)
    return Page(items=items, next_cursor=next_cursor)


@router.post("/users/{username}/tokens", status_code=201, summary="Create a token for a user (platform admin)")
async def create_user_token(username: str, body: TokenCreate, caller: Caller, svc: Users) -> TokenSecret:
    return await svc.create_token(caller, body, username)


@router.post("/tokens", status_code=201, summary="Create a personal access token; the secret is shown once")
async def create_token(body: TokenCreate, caller: Caller, svc: Users) -> TokenSecret:
    return await svc.create_token(caller, body)


@router.get("/tokens", summary="Your personal access tokens (never their secrets)")
async def list_tokens(caller: Caller, svc: Users) -> list[Token]:
    return await svc.list_tokens(caller)


@router.delete("/tokens/{token_id}", status_code=204, summary="Revoke a token")
async def revoke_token(token_id: str, caller: Caller, svc: Users) -> Response:
    await svc.revoke_token(caller, token_id)
    return Response(status_code=204)
