"""`edgeagent detect` as data: the machine, the llama.cpp build, and what this machine should run."""

from __future__ import annotations

from typing import Any

from edgeagent_cli import paths
from edgeagent_cli.core import hardware, llama_build, profiles


def threads_for(cpu: dict[str, Any]) -> int:
    """Physical cores this process may use: llama.cpp generation is memory-bound and gains
    nothing from SMT siblings (llama-bench's default is the physical core count too)."""
    usable = cpu.get("usable_cores") or cpu.get("logical_cores") or 1
    physical = cpu.get("physical_cores") or usable
    return max(1, min(physical, usable))


def memory_budget(profile: profiles.Profile, memory: dict[str, Any], gpus: list[dict[str, Any]], offload: bool) -> dict[str, Any]:
    """Bytes a model (weights + KV cache + buffers) may take: free VRAM when every layer goes to a
    GPU, else available RAM; minus the profile's headroom."""
    headroom = int(profile.get("memory_headroom_mb", 1024)) * 1024 * 1024
    gpu_free = max((g.get("vram_free_bytes") or 0 for g in gpus), default=0)
    if offload and profile.get("gpu_layers", 0) != 0 and gpu_free:
        return {"source": "vram_free", "bytes": max(0, gpu_free - headroom), "headroom_bytes": headroom}
    return {"source": "ram_available", "bytes": max(0, memory["available_bytes"] - headroom), "headroom_bytes": headroom}


def recommend(cpu: dict[str, Any], memory: dict[str, Any], gpus: list[dict[str, Any]], build: dict[str, Any]) -> dict[str, Any]:
    profile = profiles.pick_device(memory["total_bytes"], gpus)
    offload = bool(build.get("gpu_offload"))
    budget = memory_budget(profile, memory, gpus, offload)
    layers = profile.get("gpu_layers", 0) if offload and gpus else 0
    return {
        "profile": profile.name,
        "memory_budget_bytes": budget["bytes"],
        "memory_budget_source": budget["source"],
        "context": profile.get("context"),
        "threads": threads_for(cpu),
        "gpu_layers": layers,
        "quant_range": [profile.get("quant_min"), profile.get("quant_max")],
    }


def gpu_layers(recommendation: dict[str, Any], override: int | None = None) -> int:
    """Layers to offload: the flag, else the recommendation, where -1 (a profile's "every layer") is 99."""
    if override is not None:
        return override
    layers = int(recommendation["gpu_layers"])
    return 99 if layers == -1 else layers


def survey() -> dict[str, Any]:
    cpu = hardware.detect_cpu()
    memory = hardware.detect_memory()
    gpus = hardware.detect_gpus()
    build = llama_build.probe()
    build["warnings"] = llama_build.warnings(build, cpu["features"], gpus)
    return {
        "cpu": cpu,
        "memory": memory,
        "gpus": gpus,
        "npus": hardware.detect_npus(),
        "disk": hardware.detect_disk(paths.models_dir()),
        "os": hardware.detect_os(),
        "llama_cpp": build,
        "recommendation": recommend(cpu, memory, gpus, build),
    }
