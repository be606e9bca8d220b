"""Measure a model's real peak resident memory in a fresh process (`python -m edgeagent_cli.core.bench.memory`).

A separate process, so that nothing else loaded by the caller inflates the figure: load the model at
the context, decode a 512-token prompt and generate 64 tokens, report ru_maxrss.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgeagent_cli.core.util.process import peak_rss_bytes

if TYPE_CHECKING:
    from edgeagent_cli.core.models.store import ModelRecord


def _probe(path: str, ctx: int, threads: int) -> dict[str, Any]:
    import llama_cpp

    llm = llama_cpp.Llama(path, n_ctx=ctx, n_threads=threads, verbose=False)
    prompt = llm.tokenize(b"The quick brown fox jumps over the lazy dog. " * 60)[:512]
    llm.eval(prompt)
    llm.create_completion("Once upon a time", max_tokens=64, temperature=0)
    return {"context": ctx, "peak_rss_bytes": peak_rss_bytes()}


def record_truth(rec: ModelRecord, path: Path, threads: int, ctx: int = 2048) -> str | None:
    """The first load of a stored model: its measured peak RSS beside the estimate, kept in the store
    (`models show` reports both). Returns a warning when it could not be measured; never fails a bench."""
    from edgeagent_cli.core.models import fit, gguf
    from edgeagent_cli.core.models.store import Store

    arch = gguf.arch_numbers(rec.metadata)
    if not {"n_layers", "n_kv_heads", "head_dim"} <= arch.keys():
        return None
    try:
        measured = measure(path, ctx, threads)
    except (RuntimeError, OSError, ValueError, subprocess.SubprocessError) as e:
        return f"could not measure peak memory: {e}"
    est = fit.estimate(rec.total_bytes, arch, ctx)["total_bytes"]
    peak = measured["peak_rss_bytes"]
    entry = {"context": ctx, "estimated_bytes": est, "peak_rss_bytes": peak, "error_pct": (est - peak) / peak * 100}
    Store().update(rec.name, lambda r: r.memory.append(entry))
    return None


def measure(path: Path, ctx: int, threads: int = 2) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "edgeagent_cli.core.bench.memory", str(path), str(ctx), str(threads)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"memory probe failed: {done.stderr.strip()[-300:]}")
    return json.loads(done.stdout)


if __name__ == "__main__":
    sys.stdout.write(json.dumps(_probe(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))) + "\n")
