"""`edgeagent plan`: the fit decision for a machine you are not on.

The target is the `detect --json` document of that machine (`--device`), a device profile alone
(`--profile`: the smallest machine the profile matches), or bare numbers (`--memory 8GB [--gpu 6GB]`,
as llmfit's overrides). Settings resolve against it exactly as they would there (the profile it
matches, its headroom, context, quant range, whether it offloads to a GPU), and every model is planned
as `pull --dry-run` plans it: remote headers read over HTTP Range, nothing downloaded; where the Hub
cannot be reached, from the catalog's sizes and architecture numbers, and the plan says so.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeagent_cli.core.errors import EdgeError, ExitCode
from edgeagent_cli.core.hardware.machine import Machine
from edgeagent_cli.core.results import Result, Table
from edgeagent_cli.core.settings import Settings

GIB = 2**30


def machine_from_detect(path: Path) -> Machine:
    """A Machine from another machine's `edgeagent detect --json`."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as e:
        raise EdgeError(f"no such device file: {path}", "save one with `edgeagent detect --json > DEVICE.json`",
                        ExitCode.NOT_FOUND) from e  # fmt: skip
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise EdgeError(f"{path} is not a `detect --json` document: {e}", code=ExitCode.USAGE) from e
    memory = doc.get("memory") if isinstance(doc, dict) else None
    if not isinstance(memory, dict) or not isinstance(memory.get("total_bytes"), int):
        raise EdgeError(f"{path} is not a `detect --json` document (no memory.total_bytes)",
                        "save one with `edgeagent detect --json > DEVICE.json` on the target", ExitCode.USAGE)  # fmt: skip
    memory.setdefault("available_bytes", memory["total_bytes"])
    gpus = [g for g in doc.get("gpus") or [] if isinstance(g, dict)]
    build = doc.get("llama_cpp") if isinstance(doc.get("llama_cpp"), dict) else {}
    if not build.get("installed"):  # not built there yet: it will be built for its GPU (setup.sh does)
        build = {"gpu_offload": any(g.get("vram_total_bytes") for g in gpus)}
    return Machine(doc.get("cpu") or {}, memory, gpus, build)


def machine_from_numbers(memory: int, gpu: int | None) -> Machine:
    gpus = [{"name": "GPU (--gpu)", "vram_total_bytes": gpu, "vram_free_bytes": gpu}] if gpu else []
    return Machine({}, {"total_bytes": memory, "available_bytes": memory}, gpus, {"gpu_offload": bool(gpu)})


def machine_for_profile(name: str) -> Machine:
    """The smallest machine a device profile matches: its plan holds on every machine it names."""
    from edgeagent_cli.core import profiles

    p = profiles.get(name, "device")
    rule = p.get("match") or {}
    memory = int(float(rule.get("min_memory_gb") or 4) * GIB)
    vram = int(float(rule.get("min_vram_gb") or 0) * GIB)
    return machine_from_numbers(memory, vram or None)


@dataclass
class PlannedFit:
    model: str
    quant: str | None
    file: str | None
    size_bytes: int | None
    context: int
    total_bytes: int | None
    verdict: str
    max_context: int | None
    reason: str
    source: str  # hf | package | catalog
    warnings: list[str] = field(default_factory=list)


@dataclass
class DevicePlan(Result):
    target: dict[str, Any]
    budget_bytes: int
    budget_source: str
    context: int
    quant_range: list[str | None]
    models: list[PlannedFit]
    settings: dict[str, Any] | None = None

    def table(self) -> Table:
        rows = [[m.model, m.quant or "-", m.size_bytes, m.context, m.total_bytes, m.verdict, m.max_context]
                for m in self.models]  # fmt: skip
        return Table(["model", "quant", "size_bytes", "context", "total_bytes", "verdict", "max_context"], rows)


def plan(refs: list[str], settings: Settings, target: dict[str, Any], quant: str | None = None) -> DevicePlan:
    """Each model (none: the whole catalog) planned for the target the settings were resolved against."""
    from edgeagent_cli.core.models import catalog, pull

    names = refs or sorted(catalog.entries())
    t = pull._target(settings)
    out = []
    for ref in names:
        try:
            p = pull.plan(ref, t, quant=quant, token=pull.env_token())
        except EdgeError as e:
            if e.code != ExitCode.UNREACHABLE:
                raise
            p = pull.plan_from_catalog(ref, t, quant)
        c = p.chosen
        out.append(
            PlannedFit(
                p.ref.alias, c["quant"] if c else None, c["file"] if c else None, c["size_bytes"] if c else None,
                p.context, c["total_bytes"] if c else None, c["verdict"] if c else "does not fit", p.max_context,
                p.reason, p.source, p.warnings,
            )
        )  # fmt: skip
    lo, hi = settings.quant_range()
    return DevicePlan(
        {**target, "profile": settings.device.name, "offload": settings.machine.offload},
        t.budget,
        t.budget_source,
        t.ctx,
        [lo, hi],
        out,
        settings.to_dict(),
    )
