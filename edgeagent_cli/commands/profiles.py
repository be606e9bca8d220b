"""`edgeagent profiles`: device and deployment profiles."""

from __future__ import annotations

from typing import Annotated

import typer

from edgeagent_cli.options import JsonOpt
from edgeagent_cli.output import Output

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
    found = profiles.all_profiles()
    doc = {"profiles": [{"name": p.name, "kind": p.kind, "path": str(p.path), "shipped": p.shipped,
                         "description": p.get("description")} for p in found]}  # fmt: skip
    out.document(doc, lambda o: o.table(
        ["name", "kind", "origin", "description"],
        [(p.name, p.kind, "shipped" if p.shipped else "user", p.get("description", "")) for p in found],
    ))  # fmt: skip


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
    p = profiles.get(name)
    doc = {"name": p.name, "kind": p.kind, "path": str(p.path), "profile": p.data}
    out.document(doc, lambda o: o.pairs([(k, v) for k, v in p.data.items()], title=f"{p.name} ({p.path})"))
