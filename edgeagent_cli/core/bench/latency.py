"""Latency of a real chat request in-process: time to first token and end to end, streaming."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from edgeagent_cli.core.util.stats import percentiles

PROMPT = [{"role": "user", "content": "Explain in two sentences why the sky is blue."}]


def chat_latency(
    path: Path, threads: int, n_gpu_layers: int = 0, reps: int = 3, max_tokens: int = 48
) -> dict[str, Any]:
    import llama_cpp

    llm = llama_cpp.Llama(str(path), n_ctx=1024, n_threads=threads, n_gpu_layers=n_gpu_layers, verbose=False)
    ttft, e2e, tokens = [], [], 0
    for _ in range(reps + 1):  # the first request warms caches and is not counted
        llm.reset()
        t0 = time.perf_counter()
        first = None
        count = 0
        chunks: Any = llm.create_chat_completion(PROMPT, max_tokens=max_tokens, temperature=0, stream=True)  # type: ignore[arg-type]
        for chunk in chunks:
            if chunk["choices"][0]["delta"].get("content"):
                count += 1
                first = first or time.perf_counter()
        end = time.perf_counter()
        if first is not None:
            ttft.append((first - t0) * 1000)
            e2e.append((end - t0) * 1000)
            tokens = count
    ttft, e2e = ttft[1:] or ttft, e2e[1:] or e2e
    summary = {"ttft_ms": percentiles(ttft, (50,)), "e2e_ms": percentiles(e2e, (50,))}
    return {**summary, "output_tokens": tokens, "requests": len(e2e)}
