"""``dte``: the command line of the Digital Twin Engine. Everything but ``serve`` and ``db``
goes through the REST API (``dte.client``), so it works against any engine (``DTE_URL``)."""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated

import httpx
import typer
import yaml
from rich.markup import escape

from dte.cli import auth, components, devices, edge, runs, simulate, workflows
from dte.cli.common import DirArg, JsonOpt, parse_assignments, show, show_secret, state
from dte.cli.output import console, emit_json, errors
from dte.cli.simulate import simulate_alongside
from dte.client import ApiError
from dte.domain.errors import DteError

app = typer.Typer(help="DTE - Digital Twin Engine", no_args_is_help=True, pretty_exceptions_enable=False)
project_app = typer.Typer(help="Projects and their members", no_args_is_help=True)
app_app = typer.Typer(help="The catalogue of DT applications", no_args_is_help=True)
twin_app = typer.Typer(help="Twins and their state", no_args_is_help=True)
token_app = typer.Typer(help="Personal access tokens", no_args_is_help=True)
user_app = typer.Typer(help="Users (platform admins)", no_args_is_help=True)
config_app = typer.Typer(help="Engine configuration", no_args_is_help=True)
db_app = typer.Typer(help="The engine's database", no_args_is_help=True)
for sub, name in ((project_app, "project"), (app_app, "app"), (twin_app, "twin"), (token_app, "token"),
                  (user_app, "user"), (config_app, "config"), (db_app, "db")):
    app.add_typer(sub, name=name)
# Areas with a module of their own register here (one line each).
app.add_typer(runs.run_app, name="run")
app.add_typer(runs.trigger_app, name="trigger")
app.add_typer(runs.module_app, name="module")
app.add_typer(devices.device_app, name="device")
app.add_typer(devices.observe_app, name="observe")
app.add_typer(edge.app, name="edge")
app.command()(simulate.simulate)
app.add_typer(components.app, name="component")
app.add_typer(workflows.app, name="workflow")
app.add_typer(auth.audit_app, name="audit")
app.add_typer(auth.client_app, name="client")
app.command()(auth.login)


@app.callback()
def main_options(
    url: Annotated[str | None, typer.Option(envvar="DTE_URL", help="engine URL (default http://127.0.0.1:8000)")] = None,
    token: Annotated[str | None, typer.Option(envvar="DTE_TOKEN", help="bearer token", show_default=False)] = None,
    as_json: JsonOpt = False,
) -> None:
    state.url, state.token, state.json = url, token, as_json


# --- engine -------------------------------------------------------------------------------------

@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="bind address (DTE_HOST)")] = None,
    port: Annotated[int | None, typer.Option(help="port (DTE_PORT)")] = None,
    simulate: Annotated[bool, typer.Option(help="also run a simulated physical twin (demo/thermostat-1)")] = False,
) -> None:
    """Run the engine: REST API, and in embedded mode everything else it needs."""
    import uvicorn

    from dte.api.app import create_app
    from dte.logs import configure_logging
    from dte.settings import Settings

    overrides = {k: v for k, v in {"host": host, "port": port}.items() if v is not None}
    settings = Settings(**overrides)
    configure_logging(settings)
    simulator = simulate_alongside(settings) if simulate else None
    try:
        uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_config=None,
                    access_log=False, proxy_headers=True)
    finally:
        if simulator is not None:
            simulator.terminate()


@config_app.command("show")
def config_show(as_json: JsonOpt = False) -> None:
    """The effective settings, secrets masked."""
    from dte.settings import Settings

    masked = Settings().masked()
    if as_json or state.json:
        emit_json(masked)
        return
    for key, value in masked.items():
        console.print(f"[bold]{key}[/bold] = {value}")


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Apply the database migrations (the engine also does this on start)."""
    from dte.adapters.db.engine import upgrade
    from dte.settings import Settings, mask_url

    settings = Settings()
    upgrade(settings.effective_database_url, revision)
    console.print(f"database {mask_url(settings.effective_database_url)} is at {revision}")


@app.command()
def whoami(as_json: JsonOpt = False) -> None:
    """Who the current token belongs to, and its memberships."""
    state.json |= as_json
    show(state.client().me())


# --- projects -------------------------------------------------------------------------------------

@project_app.command("create")
def project_create(name: str, title: str = "", description: str = "", as_json: JsonOpt = False) -> None:
    state.json |= as_json
    show(state.client().project_create(name, title, description))


@project_app.command("list")
def project_list(as_json: JsonOpt = False) -> None:
    state.json |= as_json
    show(state.client().project_list(limit=500).items, ["name", "title", "role", "created_at"])


@project_app.command("show")
def project_show(name: str, as_json: JsonOpt = False) -> None:
    state.json |= as_json
    show(state.client().project_get(name))


@project_app.command("members")
def project_members(name: str, as_json: JsonOpt = False) -> None:
    state.json |= as_json
    show(state.client().member_list(name), ["username", "role", "added_at"])


@project_app.command("add-member")
def project_add_member(name: str, username: str,
                       role: Annotated[str, typer.Option(help="user, developer, provider or admin")] = "user",
                       as_json: JsonOpt = False) -> None:
    """Add a member, or change a member's role."""
    state.json |= as_json
    show(state.client().member_set(name, username, role))


@project_app.command("remove-member")
def project_remove_member(name: str, username: str) -> None:
    state.client().member_remove(name, username)
    console.print(f"removed {username} from {name}")


# --- users and tokens -----------------------------------------------------------------------------

@user_app.command("create")
def user_create(username: str, display_name: str = "", email: str | None = None,
                platform_admin: bool = False, as_json: JsonOpt = False) -> None:
    state.json |= as_json
    show(state.client().user_create(username, display_name, email, platform_admin))


@user_app.command("list")
def user_list(as_json: JsonOpt = False) -> None:
    state.json |= as_json
    show(state.client().user_list(limit=500).items, ["username", "display_name", "platform_admin", "created_at"])


@token_app.command("create")
def token_create(
    name: str,
    scope: Annotated[list[str] | None, typer.Option(help="read, write, admin (repeat)")] = None,
    project: Annotated[str | None, typer.Option(help="restrict the token to one project")] = None,
    days: Annotated[int, typer.Option(help="days until it expires; 0 = never")] = 90,
    user: Annotated[str | None, typer.Option(help="for another user (platform admins)")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Create a token; its secret is shown only now."""
    state.json |= as_json
    show_secret(state.client().token_create(name, scope, project, days or None, user), "secret", "secret")


@token_app.command("list")
def token_list(as_json: JsonOpt = False) -> None:
    state.json |= as_json
    show(state.client().token_list(), ["id", "name", "scopes", "project", "expires_at", "revoked_at", "last_used_at"])


@token_app.command("revoke")
def token_revoke(token_id: str) -> None:
    state.client().token_revoke(token_id)
    console.print(f"revoked {token_id}")


# --- catalogue ------------------------------------------------------------------------------------

@app_app.command("init")
def app_init(name: str, directory: Annotated[Path | None, typer.Option("--dir", help="default: ./NAME")] = None) -> None:
    """Scaffold a working application: manifest, code and a test."""
    from dte.sdk import init_app

    target = directory or Path(name)
    written = init_app(name, target)
    console.print(f"created {target}/ with {len(written)} files; next:\n"
                  f"  cd {target} && pytest\n  dte app publish {target} --project <project>")


@app_app.command("validate")
def app_validate(directory: DirArg = Path("."), as_json: JsonOpt = False) -> None:
    """Check an application directory the way publishing will, without publishing."""
    from dte.sdk import check_app

    manifest = check_app(directory)
    if as_json or state.json:
        emit_json(manifest.model_dump(mode="json"))
    else:
        console.print(f"{manifest.name} {manifest.version}: valid")


@app_app.command("publish")
def app_publish(
    directory: DirArg = Path("."),
    project: Annotated[str, typer.Option(help="the publishing project")] = ...,  # type: ignore[assignment]
    public: Annotated[bool, typer.Option(help="visible to every user (new applications)")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Bundle a directory and publish it as a new immutable version."""
    state.json |= as_json
    result = state.client().app_publish(project, directory, "public" if public else "private")
    if state.json:
        emit_json(result)
        return
    v = result.version
    verb = "published" if result.created else "already published (identical content)"
    console.print(f"{v.application} {v.version} {verb}; bundle sha256 {v.bundle_sha256}")


@app_app.command("list")
def app_list(
    q: Annotated[str | None, typer.Argument(help="search words")] = None,
    tag: str | None = None,
    project: str | None = None,
    as_json: JsonOpt = False,
) -> None:
    """Browse or search the catalogue."""
    state.json |= as_json
    items = state.client().app_search(q, tag, project, limit=500).items
    show(items, ["name", "latest_version", "project", "visibility", "summary", "tags"])


@app_app.command("show")
def app_show(name: str, version: Annotated[str, typer.Option()] = "latest", as_json: JsonOpt = False) -> None:
    """One version (default the latest) with its manifest."""
    state.json |= as_json
    show(state.client().app_version(name, version))


@app_app.command("versions")
def app_versions(name: str, as_json: JsonOpt = False) -> None:
    state.json |= as_json
    show(state.client().app_versions(name),
         ["version", "published_at", "published_by", "deprecated", "deprecation_message", "bundle_sha256"])


@app_app.command("pull")
def app_pull(name: str, version: str = "latest",
             to: Annotated[Path | None, typer.Option(help="default: ./NAME-VERSION")] = None) -> None:
    """Download a version's bundle and unpack it."""
    target = to or Path(f"{name}-{version}")
    files = state.client().app_pull(name, version, target)
    console.print(f"unpacked {len(files)} files into {target}")


@app_app.command("deprecate")
def app_deprecate(name: str, version: str, message: Annotated[str, typer.Option(help="why (required to deprecate)")] = "",
                  undo: bool = False, as_json: JsonOpt = False) -> None:
    """Mark a version deprecated (no new twins), or --undo it."""
    state.json |= as_json
    show(state.client().app_deprecate(name, version, message, deprecated=not undo))


@app_app.command("visibility")
def app_visibility(name: str, visibility: str, as_json: JsonOpt = False) -> None:
    """Make an application public or private."""
    state.json |= as_json
    show(state.client().app_set_visibility(name, visibility))


# --- twins ----------------------------------------------------------------------------------------

TwinRef = Annotated[str, typer.Argument(help="twin id or PROJECT/NAME")]
ParamOpt = Annotated[list[str] | None, typer.Option("--param", "-p", help="KEY=VALUE (repeat)")]
FileOpt = Annotated[Path | None, typer.Option("--file", "-f", help="YAML/JSON file with the values")]
RevisionOpt = Annotated[int | None, typer.Option("--if-revision", help="fail (412) unless the twin is at this revision")]


@twin_app.command("create")
def twin_create(
    reference: Annotated[str, typer.Argument(help="PROJECT/NAME of the new twin")],
    application: Annotated[str, typer.Option("--app", help="APPLICATION[@VERSION]")],
    param: ParamOpt = None,
    params_file: FileOpt = None,
    bind: Annotated[list[str] | None, typer.Option(help="CHANNEL=DEVICE (repeat)")] = None,
    description: str = "",
    activate: Annotated[bool, typer.Option(help="start it active")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Create a twin of an application version for one use case."""
    state.json |= as_json
    project, sep, name = reference.partition("/")
    if not sep:
        raise typer.BadParameter("give the twin as PROJECT/NAME")
    app_name, _, version = application.partition("@")
    bindings = {channel: {"device": str(device)} for channel, device in parse_assignments(bind or [], None).items()}
    twin = state.client().twin_create(project, name, app_name, version or None, parse_assignments(param or [], params_file),
                                      bindings, description, "active" if activate else "created")
    show(twin)


@twin_app.command("list")
def twin_list(project: str | None = None, application: Annotated[str | None, typer.Option("--app")] = None,
              status: str | None = None, as_json: JsonOpt = False) -> None:
    state.json |= as_json
    items = state.client().twin_list(project, application, status, limit=500).items
    show(items, ["id", "project", "name", "application", "version", "status", "revision", "updated_at"])


@twin_app.command("show")
def twin_show(reference: TwinRef, as_json: JsonOpt = False) -> None:
    state.json |= as_json
    show(state.client().twin_find(reference))


def _lifecycle(reference: str, status: str) -> None:
    client = state.client()
    show(client.twin_update(client.twin_find(reference).id, {"status": status}))


@twin_app.command("activate")
def twin_activate(reference: TwinRef) -> None:
    """created/paused -> active."""
    _lifecycle(reference, "active")


@twin_app.command("pause")
def twin_pause(reference: TwinRef) -> None:
    """active -> paused."""
    _lifecycle(reference, "paused")


@twin_app.command("retire")
def twin_retire(reference: TwinRef) -> None:
    """-> retired (final)."""
    _lifecycle(reference, "retired")


@twin_app.command("set-params")
def twin_set_params(reference: TwinRef, param: ParamOpt = None, params_file: FileOpt = None,
                    revision: RevisionOpt = None, as_json: JsonOpt = False) -> None:
    """Replace the twin's parameter values (validated against the application's schema)."""
    state.json |= as_json
    client = state.client()
    twin = client.twin_find(reference)
    show(client.twin_update(twin.id, {"parameters": parse_assignments(param or [], params_file)}, revision))


@twin_app.command("state")
def twin_state(
    reference: TwinRef,
    as_of: Annotated[datetime | None, typer.Option("--as-of", help="ISO time; no zone = UTC")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Reported and desired state, now or as of a time."""
    state.json |= as_json
    client = state.client()
    show(client.twin_state(client.twin_find(reference).id, as_of))


@twin_app.command("set")
def twin_set(
    reference: TwinRef,
    kind: Annotated[str, typer.Argument(help="desired or reported")],
    value: Annotated[list[str] | None, typer.Argument(help="KEY=VALUE ...")] = None,
    file: FileOpt = None,
    replace: Annotated[bool, typer.Option(help="replace the whole document instead of merging")] = False,
    revision: RevisionOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Change the desired (or reported) state: merges KEY=VALUE into it; KEY= with nothing removes KEY."""
    state.json |= as_json
    if kind not in ("desired", "reported"):
        raise typer.BadParameter("KIND is desired or reported")
    document = parse_assignments(value or [], file)
    if not document and not replace:
        raise typer.BadParameter("give KEY=VALUE pairs or --file (or --replace to empty the document)")
    if not replace:
        document = {k: (None if v == "" else v) for k, v in document.items()}
    client = state.client()
    show(client.twin_set_state(client.twin_find(reference).id, kind, document, merge=not replace, revision=revision))


@twin_app.command("history")
def twin_history(reference: TwinRef, since: datetime | None = None, until: datetime | None = None,
                 limit: int = 50, as_json: JsonOpt = False) -> None:
    """Revisions of the twin, newest first."""
    state.json |= as_json
    client = state.client()
    page = client.twin_history(client.twin_find(reference).id, since, until, limit=limit)
    show(page.items, ["revision", "change", "changed_by", "changed_at", "reported", "desired"])


def fail(message: str) -> None:
    errors.print("[red]error[/red]", escape(message))
    sys.exit(1)


def main() -> None:
    """Entry point: API, input and configuration errors become one readable message, exit code 1."""
    try:
        app()
    except (ApiError, DteError, OSError, ValueError, yaml.YAMLError) as exc:  # ValueError: settings too
        fail(str(exc))
    except httpx.HTTPError as exc:
        fail(f"cannot reach the engine: {exc}")
