"""`vllm serve` from a deployment profile, for users who outgrow one machine."""

from __future__ import annotations

from typing import Any


def vllm_command(model: str, deployment: dict[str, Any], host: str, port: int, api_key: str | None) -> list[str]:
    """`vllm serve` from a deployment profile, for users who outgrow one machine."""
    cmd = [
        "vllm",
        "serve",
        model,
        "--host",
        host,
        "--port",
        str(port),
        "--max-model-len",
        str(deployment.get("context", 8192)),
        "--tensor-parallel-size",
        str(deployment.get("tensor_parallel_size", 1)),
        "--gpu-memory-utilization",
        str(deployment.get("gpu_memory_utilization", 0.9)),
        "--max-num-seqs",
        str(deployment.get("parallel", 8)),
    ]
    cmd.append("--enable-prefix-caching" if deployment.get("prefix_caching") else "--no-enable-prefix-caching")
    if deployment.get("kv_cache_type") in ("q8_0", "fp8"):
        cmd += ["--kv-cache-dtype", "fp8"]
    if api_key:
        cmd += ["--api-key", api_key]
    return cmd
