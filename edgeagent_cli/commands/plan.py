"""`edgeagent plan`: which quant and context fit a machine you are not on; nothing is downloaded."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from edgeagent_cli.cli.options import CtxOpt, JsonOpt, ProfileOpt, VerboseOpt
from edgeagent_cli.cli.output import Output, human_bytes
from edgeagent_cli.core.errors import EdgeError, ExitCode

DeviceOpt = Annotated[
    Path | None, typer.Option("--device", help="The target's `edgeagent detect --json`, saved to a file.")
]


def plan(
    models: Annotated[
        list[str] | None, typer.Argument(help="Catalog aliases or hf:OWNER/REPO (default: the whole catalog).")
    ] = None,
    device: DeviceOpt = None,
    memory: Annotated[str | None, typer.Option("--memory", help="The target's memory: 8GB, 16GiB.")] = None,
    gpu: Annotated[str | None, typer.Option("--gpu", help="With --memory: the target's GPU memory.")] = None,
    quant: Annotated[str | None, typer.Option("--quant", "-q", help="Plan this quant only.")] = None,
    ctx: CtxOpt = None,
    profile: ProfileOpt = None,
    verbose: VerboseOpt = False,
    json_: JsonOpt = False,
) -> None:
    """The best quant and the largest context that fit another machine, for each model (or the catalog).

    The target: --device (its `detect --json`), --memory [--gpu] (numbers), or --profile alone (the
    smallest machine the profile matches). Remote headers are read as `pull --dry-run` reads them;
    without the Hub, the catalog's sizes are used and the plan says so.

    Examples:

      edgeagent plan phi-4-mini qwen2.5-0.5b --device kiosk-detect.json

      edgeagent plan --memory 8GB --gpu 6GB --json

      edgeagent plan llama3.2-3b --profile mobile
    """
    from edgeagent_cli.cli.settings import settings
    from edgeagent_cli.core.models import planner
    from edgeagent_cli.core.settings import parse_size

    out = Output(json_)
    if sum(x is not None for x in (device, memory)) != 1 and not (profile and device is None and memory is None):
        raise EdgeError("say which machine to plan for", "pass --device FILE.json, --memory SIZE, or --profile NAME",
                        ExitCode.USAGE)  # fmt: skip
    if gpu and not memory:
        raise EdgeError("--gpu goes with --memory", code=ExitCode.USAGE)
    described: dict[str, Any]
    if device is not None:
        target = planner.machine_from_detect(device)
        described = {"device": str(device)}
    elif memory is not None:
        target = planner.machine_from_numbers(parse_size(memory), parse_size(gpu) if gpu else None)
        described = {"memory_bytes": parse_size(memory), "gpu_bytes": parse_size(gpu) if gpu else None}
    else:
        assert profile is not None
        target = planner.machine_for_profile(profile)
        described = {"profile_minimum_memory_bytes": target.memory["total_bytes"]}
    resolved = settings(out, verbose, profile, machine=target, context=ctx)
    result = planner.plan(models or [], resolved, described, quant)

    def human(o: Output) -> None:
        rows = [
            [m.model, m.quant or "-", human_bytes(m.size_bytes), m.context, human_bytes(m.total_bytes), m.verdict,
             m.max_context or "-"]
            for m in result.models
        ]  # fmt: skip
        title = f"for {result.target.get('device') or 'the target'}: profile {result.target['profile']}, budget "
        title += f"{human_bytes(result.budget_bytes)} ({result.budget_source})"
        o.table(["model", "quant", "weights", "context", "total", "verdict", "max context"], rows, title=title)
        for m in result.models:
            for w in m.warnings:
                o.info(f"{m.model}: {w}")

    out.emit(result, human)
