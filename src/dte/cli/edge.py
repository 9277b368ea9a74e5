"""``dte edge``: run the edge gateway near the physical twin, or show its buffer's status."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from dte.cli.common import JsonOpt, show, state

app = typer.Typer(help="The edge gateway: operators, durable store-and-forward buffer, forwarding to the engine")
ConfigOpt = Annotated[Path, typer.Option("--config", "-c", help="edge.yaml", exists=True, dir_okay=False)]


@app.callback(invoke_without_command=True)
def edge(ctx: typer.Context, config: Annotated[Path | None, typer.Option(
        "--config", "-c", help="edge.yaml", exists=True, dir_okay=False)] = None) -> None:
    """Run the gateway: ``dte edge --config edge.yaml``."""
    if ctx.invoked_subcommand is not None:
        return
    if config is None:
        raise typer.BadParameter("give --config edge.yaml")
    from dte.edge.config import load_config
    from dte.edge.gateway import Gateway
    from dte.logs import configure_logging
    from dte.settings import Settings

    configure_logging(Settings())
    gateway_config = load_config(config)

    async def main() -> None:
        await Gateway(gateway_config).run()

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass


@app.command("status")
def status(config: ConfigOpt, as_json: JsonOpt = False) -> None:
    """Buffer depth, oldest unsent age, and received/sent/failed/dropped counts (also when stopped)."""
    from dte.edge.buffer import Buffer
    from dte.edge.config import load_config

    cfg = load_config(config)
    state.json = state.json or as_json
    buffer = Buffer(cfg.buffer.path, cfg.buffer.max_rows, cfg.buffer.overflow)
    try:
        show(buffer.stats())
    finally:
        buffer.close()
