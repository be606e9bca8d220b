"""`edgeagent detect`: what hardware is here and what it can run."""

from __future__ import annotations

from typing import TYPE_CHECKING

from edgeagent_cli.cli.options import JsonOpt, ProfileOpt
from edgeagent_cli.cli.output import Output, human_bytes

if TYPE_CHECKING:
    from edgeagent_cli.core.hardware.detect import DetectResult


def detect(profile: ProfileOpt = None, json_: JsonOpt = False) -> None:
    """Show the CPU, memory, GPUs, NPUs, disk, the llama.cpp build and what this machine should run.

    Examples:

      edgeagent detect

      edgeagent detect --json | jq .recommendation

      edgeagent detect --profile edge
    """
    from edgeagent_cli.core.hardware.detect import detect as probe

    out = Output(json_)
    result = probe(profile)
    out.emit(result, lambda o: _render(o, result))
    for w in result.llama_cpp["warnings"]:
        out.warn(f"{w['message']}\n  fix: {w['fix']}")


def _render(out: Output, doc: DetectResult) -> None:
    cpu, mem, build, rec = doc.cpu, doc.memory, doc.llama_cpp, doc.recommendation
    rows = [
        ("CPU", f"{cpu['model']} ({cpu['arch']})"),
        ("Cores", f"{cpu['physical_cores']} physical, {cpu['logical_cores']} logical"),
        ("SIMD", " ".join(cpu["features"]) or "-"),
        ("RAM", f"{human_bytes(mem['total_bytes'])} total, {human_bytes(mem['available_bytes'])} available"),
    ]
    for g in doc.gpus:
        vram = f"{human_bytes(g['vram_total_bytes'])} VRAM, {human_bytes(g['vram_free_bytes'])} free"
        cc = f", compute {g['compute_capability']}" if g.get("compute_capability") else ""
        rows.append(("GPU", f"{g['name']} ({g['backend']}): {vram}{cc}, driver {g.get('driver') or '-'}"))
    if not doc.gpus:
        rows.append(("GPU", "none found"))
    for n in doc.npus:
        rows.append(("NPU", f"{n['name']} ({n['driver']})"))
    rows.append(("Disk", f"{human_bytes(doc.disk['free_bytes'])} free at {doc.disk['path']}"))
    rows.append(("OS", f"{doc.os['system']} {doc.os['release']}, Python {doc.os['python']}"))
    if build.get("installed"):
        offload = "yes" if build["gpu_offload"] else "no"
        rows.append(("llama.cpp", f"llama-cpp-python {build['version']}, GPU offload: {offload}"))
        rows.append(("  build", build.get("system_info") or "-"))
    else:
        rows.append(("llama.cpp", "llama-cpp-python not installed"))
    out.table(["", "detected"], rows, title="This machine")
    layers = "all" if rec.gpu_layers >= 99 else rec.gpu_layers
    quants = " .. ".join(map(str, rec.quant_range))
    out.table(
        ["profile", "memory budget", "context", "threads", "GPU layers", "quants"],
        [(rec.profile, human_bytes(rec.memory_budget_bytes), rec.context, rec.threads, layers, quants)],
        title="Recommendation",
    )
