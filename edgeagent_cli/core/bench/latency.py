"""Latency of a real chat request in-process: time to first token and end to end, streaming."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from edgeagent_cli.core.util.stats import percentiles

PROMPT = [{"role": "user", "content": "Explain in two sentences why the sky is blue."}]


def _stamp_into(stamps: list[float]) -> Any:
    return lambda piece: stamps.append(time.perf_counter())


def chat_latency(
    path: Path, threads: int, n_gpu_layers: int = 0, reps: int = 3, max_tokens: int = 48
) -> dict[str, Any]:
    """A chat turn as `edgeagent chat` runs it (the model's template, rendered within its budget),
    timed from the request to the first and the last streamed piece; one warm-up request not counted."""
    from edgeagent_cli.core.agent.runtime.local import LocalRuntime

    llama = {"n_ctx": 1024, "n_threads": threads, "n_gpu_layers": n_gpu_layers}
    runtime = LocalRuntime(path, llama, max_tokens=max_tokens, name=path.name)
    ttft: list[float] = []
    e2e: list[float] = []
    tokens = 0
    try:
        for _ in range(reps + 1):
            runtime.llm.reset()
            stamps: list[float] = []
            t0 = time.perf_counter()
            reply = runtime.turn(PROMPT, [], "none", _stamp_into(stamps))
            end = time.perf_counter()
            if stamps:
                ttft.append((stamps[0] - t0) * 1000)
                e2e.append((end - t0) * 1000)
                tokens = reply.completion_tokens
    finally:
        runtime.close()
    ttft, e2e = ttft[1:] or ttft, e2e[1:] or e2e
    summary = {"ttft_ms": percentiles(ttft, (50,)), "e2e_ms": percentiles(e2e, (50,))}
    return {**summary, "output_tokens": tokens, "requests": len(e2e)}
