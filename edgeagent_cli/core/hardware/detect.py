"""`edgeagent detect` as data: the machine, the llama.cpp build, and what this machine should run."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from edgeagent_cli.core import paths
from edgeagent_cli.core.hardware import llama_build, probe
from edgeagent_cli.core.hardware.machine import Machine, probe_machine
from edgeagent_cli.core.results import Result
from edgeagent_cli.core.settings import resolve


@dataclass
class Recommendation:
    profile: str
    profile_source: str
    memory_budget_bytes: int
    memory_budget_source: str
    context: int
    threads: int
    gpu_layers: int
    quant_range: list[str | None]


@dataclass
class DetectResult(Result):
    cpu: dict[str, Any]
    memory: dict[str, Any]
    gpus: list[dict[str, Any]]
    npus: list[dict[str, Any]]
    disk: dict[str, Any]
    os: dict[str, Any]
    llama_cpp: dict[str, Any]
    recommendation: Recommendation


def recommend(machine: Machine, profile: str | None = None) -> Recommendation:
    """What commands will use here, through the same resolver they use."""
    s = resolve(profile=profile, machine=machine)
    budget, budget_source = s.budget()
    return Recommendation(
        profile=s.device.name,
        profile_source=s.device_source,
        memory_budget_bytes=budget,
        memory_budget_source=budget_source,
        context=int(s["context"]),
        threads=int(s["threads"]),
        gpu_layers=int(s["gpu_layers"]),
        quant_range=list(s.quant_range()),
    )


def detect(profile: str | None = None) -> DetectResult:
    machine = probe_machine()
    build = dict(machine.build)
    build["warnings"] = llama_build.warnings(build, machine.cpu["features"], machine.gpus)
    return DetectResult(
        cpu=machine.cpu,
        memory=machine.memory,
        gpus=machine.gpus,
        npus=probe.detect_npus(),
        disk=probe.detect_disk(paths.models_dir()),
        os=probe.detect_os(),
        llama_cpp=build,
        recommendation=recommend(machine, profile),
    )
