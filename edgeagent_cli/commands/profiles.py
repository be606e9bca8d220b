"""`edgeagent profiles`: device and deployment profiles."""

from __future__ import annotations

from typing import Annotated

import typer

from edgeagent_cli.cli.options import JsonOpt
from edgeagent_cli.cli.output import Output

app = typer.Typer(help="Device and deployment profiles (profiles/*.yaml).", no_args_is_help=True)


@app.command("ls")
def ls(json_: JsonOpt = False) -> None:
    """List shipped and user profiles.

    Examples:

      edgeagent profiles ls

      edgeagent profiles ls --json
    """
    from edgeagent_cli.core import profiles

    out = Output(json_)
    listing = profiles.listing()
    rows = [(p.name, p.kind, "shipped" if p.shipped else "user", p.description or "") for p in listing.profiles]
    out.emit(listing, lambda o: o.table(["name", "kind", "origin", "description"], rows))


@app.command("show")
def show(
    name: Annotated[str, typer.Argument(help="Profile name or a YAML file path.")],
    json_: JsonOpt = False,
) -> None:
    """Show one profile, validated.

    Examples:

      edgeagent profiles show edge

      edgeagent profiles show ./my-kiosk.yaml --json
    """
    from edgeagent_cli.core import profiles

    out = Output(json_)
    shown = profiles.show(name)
    out.emit(shown, lambda o: o.pairs(list(shown.profile.items()), title=f"{shown.name} ({shown.path})"))
