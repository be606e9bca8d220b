"""Figures for the pull issue, written to benchmarks/results/pull_and_memory.json:

- estimate vs measured peak RSS for a model at contexts 2048 and 8192 (fresh process each);
- wall time of `edgeagent pull phi-4-mini --dry-run` against the local Hub test server;
- download throughput of `edgeagent pull` vs curl from the same server.

    python benchmarks/pull_and_memory.py MODEL.gguf
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from edgeagent_cli.core.bench import memory as bench_memory  # noqa: E402
from edgeagent_cli.core.models import fit, gguf  # noqa: E402
from tests.hubserver import HubServer, RemoteFile, gguf_header  # noqa: E402


def memory(model: Path) -> list[dict]:
    s = gguf.read_file_header(model).summary()
    arch = gguf.arch_numbers(s)
    rows = []
    for ctx in (2048, 8192):
        measured = bench_memory.measure(model, ctx)["peak_rss_bytes"]
        est = fit.estimate(model.stat().st_size, arch, ctx)["total_bytes"]
        rows.append(
            {
                "context": ctx,
                "estimated_bytes": est,
                "peak_rss_bytes": measured,
                "error_pct": (est - measured) / measured * 100,
            }
        )
    return rows


def run(args: list[str], env: dict) -> float:
    t0 = time.perf_counter()
    subprocess.run(args, env=env, check=True, capture_output=True)
    return time.perf_counter() - t0


def main() -> None:
    model = Path(sys.argv[1])
    doc: dict = {"model": model.name, "memory": memory(model)}
    header = gguf_header(
        "phi3",
        {
            "block_count": 32,
            "attention.head_count": 24,
            "attention.head_count_kv": 8,
            "embedding_length": 3072,
            "context_length": 131072,
        },
        200_064,
        "Phi 4 Mini",
        15,
    )
    with HubServer() as hub, tempfile.TemporaryDirectory() as tmp:
        for q, size in (("Q2_K", 1_680_000_000), ("Q4_K_M", 2_491_874_272), ("Q6_K", 3_160_000_000)):
            hub.add(
                "unsloth/Phi-4-mini-instruct-GGUF",
                f"Phi-4-mini-instruct-{q}.gguf",
                RemoteFile(data=header, size=size, sha256="0" * 64),
            )
        hub.add("t/S-GGUF", "S-Q4_1.gguf", RemoteFile(path=model))
        env = {**os.environ, "HF_ENDPOINT": hub.url, "EDGEAGENT_HOME": tmp}
        cmd = [sys.executable, "-m", "edgeagent_cli"]
        dry = [run([*cmd, "pull", "phi-4-mini", "--dry-run", "--json"], env) for _ in range(5)]
        ours, curl = [], []
        for i in range(3):
            curl.append(
                run(["curl", "-sf", "-o", f"{tmp}/c.gguf", f"{hub.url}/t/S-GGUF/resolve/main/S-Q4_1.gguf"], env)
            )
            shutil.rmtree(Path(tmp) / "models", ignore_errors=True)
            ours.append(run([*cmd, "pull", "hf:t/S-GGUF:Q4_1", "--json"], {**env, "EDGEAGENT_HOME": f"{tmp}/h{i}"}))
        size = model.stat().st_size
        doc["dry_run_seconds"] = {"median": statistics.median(dry), "runs": dry}
        doc["download"] = {
            "bytes": size,
            "edgeagent_seconds": ours,
            "curl_seconds": curl,
            "edgeagent_MBps": size / statistics.median(ours) / 1e6,
            "curl_MBps": size / statistics.median(curl) / 1e6,
            "ratio": statistics.median(curl) / statistics.median(ours),
            "note": "edgeagent's time includes process start, Hub API calls, sha256 and registration",
        }
    out = Path(__file__).parent / "results" / "pull_and_memory.json"
    out.write_text(json.dumps(doc, indent=2) + "\n")
    print(json.dumps(doc, indent=2))


if __name__ == "__main__":
    main()
