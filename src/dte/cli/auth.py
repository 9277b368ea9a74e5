"""``dte audit ...``: the audit log (query, verify the chain); ``dte client ...``: OAuth clients."""

from __future__ import annotations

import sys
from datetime import datetime
from typing import Annotated

import typer

from dte.cli.common import JsonOpt, show, state
from dte.cli.output import console, emit_json, record

audit_app = typer.Typer(help="The audit log (platform admins; project admins with --project)", no_args_is_help=True)
client_app = typer.Typer(help="OAuth clients of the embedded issuer (platform admins)", no_args_is_help=True)


@audit_app.command("list")
def audit_list(
    project: str | None = None,
    actor: str | None = None,
    outcome: Annotated[str | None, typer.Option(help="ok, denied or failed")] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 50,
    as_json: JsonOpt = False,
) -> None:
    """Entries, newest first."""
    state.json |= as_json
    page = state.client().audit_list(project, actor, outcome, since, until, limit=limit)
    show(page.items, ["seq", "at", "actor", "action", "resource", "outcome", "status"])


@audit_app.command("verify")
def audit_verify(as_json: JsonOpt = False) -> None:
    """Recompute the hash chain; exit code 1 if any entry was modified, removed or reordered."""
    result = state.client().audit_verify()
    if as_json or state.json:
        emit_json(result)
    elif result.ok:
        console.print(f"audit chain intact: {result.entries} entries, head {result.head}")
    else:
        console.print(f"[red]audit chain broken[/red] at entry {result.first_bad_seq}: {result.problem} "
                      f"({result.entries} entries verified before it)")
    if not result.ok:
        sys.exit(1)


@client_app.command("create")
def client_create(name: str, redirect_uri: Annotated[list[str] | None, typer.Option(help="repeat")] = None,
                  as_json: JsonOpt = False) -> None:
    """Register a machine client (client-credentials grant); its secret is shown only now."""
    state.json |= as_json
    created = state.client().client_create(name, redirect_uri)
    if state.json:
        emit_json(created)
        return
    record(created, hide=("client_secret",))
    console.print(f"\n[bold]client secret (shown once):[/bold] {created.client_secret}")


@client_app.command("list")
def client_list(as_json: JsonOpt = False) -> None:
    state.json |= as_json
    show(state.client().client_list(), ["client_id", "username", "redirect_uris", "created_at"])


@client_app.command("delete")
def client_delete(client_id: str) -> None:
    state.client().client_delete(client_id)
    console.print(f"deleted client {client_id}")
