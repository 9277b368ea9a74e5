"""``dte workflow ...``: an application version's workflows, their definitions, and CWL export."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from pydantic import BaseModel

from dte.cli.common import JsonOpt, show, state
from dte.cli.output import console, emit_json

app = typer.Typer(help="Workflows of applications: list, show, export as CWL v1.2", no_args_is_help=True)
class WorkflowRow(BaseModel):
    """One line of ``dte workflow list``."""

    name: str
    steps: str
    inputs: str
    sha256: str
    description: str


AppArg = Annotated[str, typer.Argument(help="APPLICATION[@VERSION] (default: the latest version)")]


def _split(application: str) -> tuple[str, str | None]:
    name, _, version = application.partition("@")
    return name, version or None


@app.command("list")
def workflow_list(application: AppArg, as_json: JsonOpt = False) -> None:
    """The version's workflows, compiled: sha256 and steps in execution order."""
    state.json |= as_json
    found = state.client().workflow_list(*_split(application))
    if state.json:
        emit_json([w.model_dump(mode="json", by_alias=True) for w in found])
        return
    rows = [WorkflowRow(name=w.name, steps=" -> ".join(s.name for s in w.steps), inputs=", ".join(w.inputs),
                        sha256=w.sha256[:16], description=w.description) for w in found]
    show(rows, ["name", "steps", "inputs", "sha256", "description"])


@app.command("show")
def workflow_show(application: AppArg, workflow: str, as_json: JsonOpt = False) -> None:
    """A workflow's compiled definition (the document its sha256 is taken over)."""
    state.json |= as_json
    name, version = _split(application)
    show(state.client().workflow_get(name, workflow, version))


@app.command("export")
def workflow_export(
    application: AppArg,
    workflow: str,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="write to this file (default: stdout)")] = None,
    fmt: Annotated[str, typer.Option("--format", help="yaml or json")] = "yaml",
) -> None:
    """The workflow as a CWL v1.2 document; run it with any CWL runner (its steps call 'dte component exec')."""
    if fmt not in ("yaml", "json"):
        raise typer.BadParameter("--format is yaml or json")
    name, version = _split(application)
    text = state.client().workflow_cwl(name, workflow, version, fmt)
    if output is None:
        typer.echo(text, nl=False)
        return
    output.write_text(text)
    console.print(f"wrote {output}")
