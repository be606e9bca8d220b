"""Served latency with vLLM's `bench serve` definitions, against any OpenAI-compatible endpoint.

TTFT = first streamed content chunk - send time; ITL = gaps between content chunks; E2E = last chunk
- send time; TPOT = (E2E - TTFT) / (output tokens - 1). Requests run `concurrency` at a time; a
failed request is counted and the run goes on.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from edgeagent_cli.core.bench.results import BenchResult
from edgeagent_cli.core.util.http import base_v1, bearer, model_id
from edgeagent_cli.core.util.stats import percentiles

PROMPTS = [
    "Write a short poem about the sea.", "Explain what a hash function is.", "List three uses of copper.",
    "Describe a sunrise in two sentences.", "What is the capital of France and why is it famous?",
    "Give me a tip for learning a new language.", "Summarize the plot of a heist movie in three sentences.",
    "Why do cats purr?",
]  # fmt: skip


async def _one(client: Any, url: str, model: str, prompt: str, max_tokens: int) -> dict[str, Any]:
    body = {
        "model": model,
        "messages": [{"role": "user", "content": prompt}],
        "max_tokens": max_tokens,
        "temperature": 0,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    sent = time.perf_counter()
    chunks: list[float] = []
    usage_tokens = None
    async with client.stream("POST", url, json=body) as r:
        if r.status_code != 200:
            await r.aread()
            raise RuntimeError(f"HTTP {r.status_code}")
        async for line in r.aiter_lines():
            if not line.startswith("data:"):
                continue
            data = line[5:].strip()
            if data == "[DONE]":
                break
            event = json.loads(data)
            if event.get("usage"):
                usage_tokens = event["usage"].get("completion_tokens")
            choices = event.get("choices") or []
            if choices and (choices[0].get("delta") or {}).get("content"):
                chunks.append(time.perf_counter())
    if not chunks:
        raise RuntimeError("no content streamed")
    tokens = usage_tokens or len(chunks)
    ttft, e2e = chunks[0] - sent, chunks[-1] - sent
    return {
        "ttft": ttft,
        "e2e": e2e,
        "itl": [b - a for a, b in zip(chunks, chunks[1:], strict=False)],
        "tokens": tokens,
        "tpot": (e2e - ttft) / (tokens - 1) if tokens > 1 else None,
    }


async def _run(
    base_url: str, api_key: str | None, model: str, concurrency: int, requests: int, max_tokens: int
) -> dict[str, Any]:
    import httpx

    headers = bearer(api_key)
    sem = asyncio.Semaphore(concurrency)
    results: list[dict[str, Any]] = []
    errors: list[str] = []
    async with httpx.AsyncClient(headers=headers, timeout=httpx.Timeout(120, connect=5)) as client:

        async def task(i: int) -> None:
            async with sem:
                try:
                    results.append(
                        await _one(client, f"{base_url}/chat/completions", model, PROMPTS[i % len(PROMPTS)], max_tokens)
                    )
                except (httpx.HTTPError, RuntimeError, ValueError) as e:
                    errors.append(f"{type(e).__name__}: {e}")

        t0 = time.perf_counter()
        await asyncio.gather(*(task(i) for i in range(requests)))
        duration = time.perf_counter() - t0
    ms = 1000.0
    out_tokens = sum(r["tokens"] for r in results)
    return {
        "concurrency": concurrency,
        "requests": requests,
        "completed": len(results),
        "errors": len(errors),
        "error_samples": errors[:5],
        "duration_s": duration,
        "ttft_ms": percentiles([r["ttft"] * ms for r in results]),
        "itl_ms": percentiles([x * ms for r in results for x in r["itl"]]),
        "tpot_ms": percentiles([r["tpot"] * ms for r in results if r["tpot"] is not None]),
        "e2e_ms": percentiles([r["e2e"] * ms for r in results]),
        "request_throughput": len(results) / duration if duration else 0.0,
        "output_throughput": out_tokens / duration if duration else 0.0,
        "output_tokens": out_tokens,
    }


def run(
    base_url: str, api_key: str | None, model: str | None, concurrency: int, requests: int, max_tokens: int
) -> BenchResult:
    base_url = base_v1(base_url)
    model = model or model_id(base_url, api_key)
    served = asyncio.run(_run(base_url, api_key, model, concurrency, requests, max_tokens))
    return BenchResult(endpoint=base_url, model=model, served=served)
