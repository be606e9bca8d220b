"""The machine facts that settings and the fit decision depend on."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from edgeagent_cli.core.hardware import llama_build, probe
from edgeagent_cli.core.profiles import Profile


def threads_for(cpu: dict[str, Any]) -> int:
    """Physical cores this process may use: llama.cpp generation is memory-bound and gains
    nothing from SMT siblings (llama-bench's default is the physical core count too)."""
    usable = cpu.get("usable_cores") or cpu.get("logical_cores") or 1
    physical = cpu.get("physical_cores") or usable
    return max(1, min(physical, usable))


@dataclass
class Machine:
    """The facts settings depend on: CPU, memory, GPUs, and whether this llama.cpp build offloads."""

    cpu: dict[str, Any]
    memory: dict[str, Any]
    gpus: list[dict[str, Any]]
    build: dict[str, Any] = field(default_factory=dict)

    @property
    def offload(self) -> bool:
        return bool(self.build.get("gpu_offload"))

    @property
    def threads(self) -> int:
        return threads_for(self.cpu)


def probe_machine() -> Machine:
    return Machine(probe.detect_cpu(), probe.detect_memory(), probe.detect_gpus(), llama_build.probe())


def memory_budget(
    profile: Profile, memory: dict[str, Any], gpus: list[dict[str, Any]], offload: bool
) -> dict[str, Any]:
    """Bytes a model (weights + KV cache + buffers) may take: free VRAM when every layer goes to a
    GPU, else available RAM; minus the profile's headroom."""
    headroom = int(profile.get("memory_headroom_mb", 1024)) * 1024 * 1024
    gpu_free = max((g.get("vram_free_bytes") or 0 for g in gpus), default=0)
    if offload and profile.get("gpu_layers", 0) != 0 and gpu_free:
        return {"source": "vram_free", "bytes": max(0, gpu_free - headroom), "headroom_bytes": headroom}
    return {
        "source": "ram_available",
        "bytes": max(0, memory["available_bytes"] - headroom),
        "headroom_bytes": headroom,
    }
