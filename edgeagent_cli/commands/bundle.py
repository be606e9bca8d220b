"""`edgeagent bundle`: models, their lock, catalog and profiles (and wheels) for a machine with no network."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from edgeagent_cli.cli.options import JsonOpt
from edgeagent_cli.cli.output import Output, human_bytes

app = typer.Typer(help="Bundles for machines with no network (create, install).", no_args_is_help=True)


@app.command("create")
def create(
    out_file: Annotated[Path, typer.Argument(help="The bundle to write (a .tar).")],
    models: Annotated[list[str] | None, typer.Argument(help="Stored models (default: all).")] = None,
    with_wheels: Annotated[
        bool, typer.Option("--with-wheels", help="Add the wheels that install edgeagent on a machine like this one.")
    ] = False,
    max_size: Annotated[
        str | None, typer.Option("--max-size", help="Refuse (exit 4) before writing a bundle larger than this.")
    ] = None,
    json_: JsonOpt = False,
) -> None:
    """Write one archive with the models, their lock, your catalog and profiles (and wheels).

    Examples:

      edgeagent bundle create kiosk.tar smollm2-135m

      edgeagent bundle create usb/kiosk.tar --with-wheels --max-size 16GB
    """
    from edgeagent_cli.core.models import bundle
    from edgeagent_cli.core.settings import parse_size

    out = Output(json_)
    result = bundle.create(out_file, models or [], parse_size(max_size) if max_size else None, with_wheels, out.info)

    def human(o: Output) -> None:
        o.line(f"wrote {result.path} ({human_bytes(result.size_bytes)}): {', '.join(result.models)}")
        for note in result.notes:
            o.line(note)

    out.emit(result, human)


@app.command("install")
def install(
    bundle_file: Annotated[Path, typer.Argument(help="A bundle from `edgeagent bundle create`.")],
    json_: JsonOpt = False,
) -> None:
    """Verify every file of a bundle, then register its models; no network is used.

    An interrupted install resumes; installing twice changes nothing; a damaged bundle registers
    nothing (exit 6).

    Examples:

      edgeagent bundle install /media/usb/kiosk.tar

      HF_HUB_OFFLINE=1 edgeagent bundle install kiosk.tar --json
    """
    from edgeagent_cli.core.models import bundle

    out = Output(json_)
    result = bundle.install(bundle_file, out.info)

    def human(o: Output) -> None:
        for m in result.models:
            o.line(f"{m['name']}: {m['status']}")
        if result.wheels:
            o.line(f"wheels: {result.wheels}")

    out.emit(result, human)
