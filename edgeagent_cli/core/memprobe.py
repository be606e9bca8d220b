"""Measure a model's real peak resident memory in a fresh process (`python -m edgeagent_cli.core.memprobe`).

A separate process, so that nothing else loaded by the caller inflates the figure: load the model at
the context, decode a 512-token prompt and generate 64 tokens, report ru_maxrss.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from pathlib import Path
from typing import Any


def _peak_rss_bytes() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def _probe(path: str, ctx: int, threads: int) -> dict[str, Any]:
    import llama_cpp

    llm = llama_cpp.Llama(path, n_ctx=ctx, n_threads=threads, verbose=False)
    prompt = llm.tokenize(b"The quick brown fox jumps over the lazy dog. " * 60)[:512]
    llm.eval(prompt)
    llm.create_completion("Once upon a time", max_tokens=64, temperature=0)
    return {"context": ctx, "peak_rss_bytes": _peak_rss_bytes()}


def measure(path: Path, ctx: int, threads: int = 2) -> dict[str, Any]:
    done = subprocess.run([sys.executable, "-m", "edgeagent_cli.core.memprobe", str(path), str(ctx), str(threads)],
                          capture_output=True, text=True, timeout=600, check=False)  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"memory probe failed: {done.stderr.strip()[-300:]}")
    return json.loads(done.stdout)


if __name__ == "__main__":
    sys.stdout.write(json.dumps(_probe(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))) + "\n")
