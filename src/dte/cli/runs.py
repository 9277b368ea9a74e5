"""``dte run ...``, ``dte trigger ...`` and ``dte module ...``: workflows runs, their triggers, and the
components of the installed thematic modules."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from dte.cli.common import JsonOpt, parse_assignments, show, state
from dte.cli.output import console, emit_json, errors, table
from dte.domain.runs import Run

run_app = typer.Typer(help="Runs of workflows: start, watch, read, cancel, verify", no_args_is_help=True)
trigger_app = typer.Typer(help="Triggers of a twin's workflows", no_args_is_help=True)
module_app = typer.Typer(help="Thematic modules and their components", no_args_is_help=True)

RunArg = Annotated[str, typer.Argument(help="run id")]
RUN_COLUMNS = ["id", "twin", "workflow", "status", "steps_done", "steps_total", "created_by", "created_at", "error"]


def _follow(run: Run) -> Run:
    """A progress bar fed by the run's live progress stream; returns the finished run."""
    client = state.client()
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=False) as bar:
        task = bar.add_task(f"{run.workflow} on {run.twin}", total=run.steps_total)
        for progress in client.run_progress(run.id):
            bar.update(task, completed=progress.steps_done, description=f"{run.workflow}: {progress.status}")
    return client.run_get(run.id)


def _steps(run: Run) -> None:
    table(run.steps or [], ["name", "component", "status", "attempts", "cached", "started_at", "finished_at", "error"])


def _finish(run: Run) -> None:
    if state.json:
        emit_json(run)
    else:
        show(run, hide=("steps",))
        _steps(run)
    if run.status in ("failed", "cancelled"):
        sys.exit(1)


@run_app.command("start")
def run_start(
    twin: Annotated[str, typer.Argument(help="twin id or PROJECT/NAME")],
    workflow: Annotated[str, typer.Argument(help="workflow name in the application's manifest")],
    value: Annotated[list[str] | None, typer.Option("--input", "-i", help="INPUT=VALUE (repeat)")] = None,
    inputs_file: Annotated[Path | None, typer.Option("--inputs", help="YAML/JSON file with the inputs")] = None,
    wait: Annotated[bool, typer.Option("--wait", "-w", help="show progress and wait until it finishes")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Start a workflow on a twin. With --wait: a progress bar, then the result (exit 1 if it failed)."""
    state.json |= as_json
    run = state.client().run_start(twin, workflow, parse_assignments(value or [], inputs_file))
    if not wait:
        show(run, hide=("steps",))
        return
    _finish(state.client().run_wait(run.id) if state.json else _follow(run))


@run_app.command("list")
def run_list(project: str | None = None, twin: str | None = None, status: str | None = None,
             workflow: str | None = None, limit: int = 50, as_json: JsonOpt = False) -> None:
    """Runs you can see, newest first."""
    state.json |= as_json
    show(state.client().run_list(project, twin, status, workflow, limit=limit).items, RUN_COLUMNS)


@run_app.command("show")
def run_show(run_id: RunArg, as_json: JsonOpt = False) -> None:
    """One run with its steps."""
    state.json |= as_json
    run = state.client().run_get(run_id)
    if state.json:
        emit_json(run)
        return
    show(run, hide=("steps",))
    _steps(run)


@run_app.command("watch")
def run_watch(run_id: RunArg) -> None:
    """Follow a run's progress until it finishes."""
    _finish(_follow(state.client().run_get(run_id)))


@run_app.command("logs")
def run_logs(run_id: RunArg, step: Annotated[str | None, typer.Option(help="only this step")] = None,
             as_json: JsonOpt = False) -> None:
    """What each step printed and logged, and its error."""
    state.json |= as_json
    entries = state.client().run_logs(run_id, step)
    if state.json:
        emit_json(entries)
        return
    for entry in entries:
        console.rule(f"{entry.step} - {entry.status} - {entry.attempts} attempt(s)")
        console.out(entry.logs or "(no output)", highlight=False)
        if entry.error:
            errors.print(f"[red]error:[/red] {entry.error}", markup=True, highlight=False)


@run_app.command("output")
def run_output(run_id: RunArg, name: Annotated[str, typer.Argument(help="workflow output, or STEP.PORT")],
               out: Annotated[Path | None, typer.Option("--out", "-o", help="write to this file")] = None) -> None:
    """A run's output: printed as JSON, or its bytes written with --out."""
    data = state.client().run_output_bytes(run_id, name)
    if out is not None:
        out.write_bytes(data)
        console.print(f"{len(data)} bytes written to {out}")
    else:
        sys.stdout.buffer.write(data + (b"\n" if not data.endswith(b"\n") else b""))


@run_app.command("cancel")
def run_cancel(run_id: RunArg, as_json: JsonOpt = False) -> None:
    """Cancel a queued or running run."""
    state.json |= as_json
    show(state.client().run_cancel(run_id), hide=("steps",))


@run_app.command("provenance")
def run_provenance(run_id: RunArg) -> None:
    """The run's provenance as W3C PROV-JSON."""
    sys.stdout.write(json.dumps(state.client().run_provenance(run_id), indent=2) + "\n")


@run_app.command("verify")
def run_verify(run_id: RunArg, as_json: JsonOpt = False) -> None:
    """Check the run's signed manifest against its records and artifacts (exit 1 if anything differs)."""
    state.json |= as_json
    result = state.client().run_verify(run_id)
    if state.json:
        emit_json(result)
    elif result.valid:
        console.print(f"[green]verified[/green]: run {run_id} is as signed by engine key {result.key_id}")
    else:
        errors.print(f"[red]NOT verified[/red]: run {run_id}")
        for problem in result.problems:
            errors.print(f"  - {problem}", markup=False)
    if not result.valid:
        sys.exit(1)


@trigger_app.command("list")
def trigger_list(twin: Annotated[str, typer.Argument(help="twin id or PROJECT/NAME")], as_json: JsonOpt = False) -> None:
    """The triggers of a twin's application and where each stands."""
    state.json |= as_json
    client = state.client()
    show(client.twin_triggers(client.twin_find(twin).id),
         ["name", "workflow", "kind", "active", "next_due_at", "pending", "last_fired_at", "last_run_id", "last_error"])


@module_app.command("list")
def module_list(as_json: JsonOpt = False) -> None:
    """Components of the thematic modules installed on the compute workers, with their signatures."""
    state.json |= as_json
    components = state.client().component_list()
    if state.json:
        emit_json(components)
        return
    from rich.table import Table

    view = Table(header_style="bold")
    for column in ("component", "version", "module", "inputs", "outputs", "description"):
        view.add_column(column)
    for c in components:
        inputs = ", ".join(f"{n}{'' if p.required else '?'}: {_kind(p.schema_)}" for n, p in c.inputs.items())
        outputs = ", ".join(f"{n}: {_kind(p.schema_)}" for n, p in c.outputs.items())
        view.add_row(c.ref, c.version, c.source.removeprefix("module:"), inputs, outputs, c.description)
    console.print(view)


@module_app.command("refresh")
def module_refresh() -> None:
    """Ask the compute workers again which modules they have (platform admins)."""
    console.print(f"{len(state.client().component_refresh())} components installed")


def _kind(schema: dict) -> str:
    kind = schema.get("type", "any")
    if kind == "array" and isinstance(schema.get("items"), dict):
        return f"{_kind(schema['items'])}[]"
    return kind if isinstance(kind, str) else "|".join(kind)
