"""``dte login`` (browser, pasted code, or a token), ``dte audit ...`` (query, verify the chain) and
``dte client ...`` (OAuth clients)."""

from __future__ import annotations

import socket
import sys
import webbrowser
from datetime import datetime
from typing import Annotated

import typer

from dte.cli.common import JsonOpt, show, show_secret, state
from dte.cli.output import console, emit_json
from dte.client import Client
from dte.client.config import store_credentials
from dte.client.login import browser_login, pasted_code_login

audit_app = typer.Typer(help="The audit log (platform admins; project admins with --project)", no_args_is_help=True)
client_app = typer.Typer(help="OAuth clients of the embedded issuer (platform admins)", no_args_is_help=True)


def login(
    url: Annotated[str | None, typer.Option(help="engine URL")] = None,
    with_token: Annotated[bool, typer.Option("--with-token", help="paste a personal access token instead")] = False,
    browser: Annotated[bool, typer.Option("--browser/--no-browser",
                                          help="--no-browser: open the printed URL on any device, paste the code")] = True,
    days: Annotated[int, typer.Option(help="days until the stored token expires")] = 30,
) -> None:
    """Sign in and store the engine URL and a token for later commands (file mode 600).

    Signing in (authorization code + PKCE at the engine's login page) ends with a personal access
    token named after this machine, so it shows in 'dte token list' and can be revoked there."""
    client = Client(url or state.url)
    client.http.headers.pop("Authorization", None)  # no stored credential is sent while signing in
    if with_token:
        token = typer.prompt("token", hide_input=True).strip()
    else:
        if browser:
            grant = browser_login(client.http, _open)
        else:
            grant = pasted_code_login(client.http, lambda u: print(f"Open this URL to sign in:\n  {u}", file=sys.stderr),
                                      lambda: typer.prompt("code"))  # single use and bound to PKCE: may show
        scopes = [s for s in grant.scope.split() if s in ("read", "write", "admin")]
        signed_in = Client(client.url, grant.access_token)
        token = signed_in.token_create(f"dte login on {socket.gethostname()}"[:100], scopes, None, days, None).secret
    me = Client(client.url, token).me()
    path = store_credentials(client.url, token)
    console.print(f"logged in to {client.url} as {me.username}; credentials in {path}")


def _open(url: str) -> None:
    print(f"Opening the login page in your browser; if it does not open, visit:\n  {url}", file=sys.stderr)
    webbrowser.open(url)


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
    show_secret(state.client().client_create(name, redirect_uri), "client_secret", "client secret")


@client_app.command("list")
def client_list(as_json: JsonOpt = False) -> None:
    state.json |= as_json
    show(state.client().client_list(), ["client_id", "username", "redirect_uris", "created_at"])


@client_app.command("delete")
def client_delete(client_id: str) -> None:
    state.client().client_delete(client_id)
    console.print(f"deleted client {client_id}")
