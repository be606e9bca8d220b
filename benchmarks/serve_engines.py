"""Serving engines side by side, in one run, with `edgeagent bench --endpoint`'s measurement.

    .venv/bin/python benchmarks/serve_engines.py MODEL.gguf [--rounds 2] [--out benchmarks/results/serve_engines.json]

Four servers run at once (an idle one takes no CPU) and are measured in turn, round after round, at
concurrency 1, 4 and 8 (64 tokens a request, temperature 0, 2 threads, 4 slots of 2048 tokens):

- `llama-server`: llama.cpp's server from the same vendored sources, run directly (the reference);
- `llama-cpp-python`: its stock server (`python -m llama_cpp.server`), run directly;
- `edgeagent serve` with each engine behind its gateway (Host check, key, metrics, budget).

For the gateway runs the gateway's /metrics is scraped before and after; the TTFT and ITL p50 read
from the difference of its histograms are set beside the client's p50.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from edgeagent_cli.core.bench.endpoint import run as bench_endpoint
from edgeagent_cli.core.serve.engines import llama_server_binary
from edgeagent_cli.core.serve.manager import free_port
from edgeagent_cli.core.serve.metrics import buckets, quantile

CONCURRENCY = (1, 4, 8)
THREADS, SLOTS, SLOT_CTX, MAX_TOKENS = 2, 4, 2048, 64


def wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url}: exited {proc.returncode}")
        try:
            if httpx.get(f"{url}/v1/models", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url}: not ready")


def start_direct(kind: str, model: Path, log: Path) -> tuple[str, subprocess.Popen[bytes]]:
    port = free_port()
    if kind == "llama-server":
        binary = llama_server_binary()
        assert binary, "llama-server is not built: run scripts/setup.sh"
        cmd = [binary, "-m", str(model), "--port", str(port), "-np", str(SLOTS), "-c", str(SLOT_CTX * SLOTS),
               "-t", str(THREADS), "--no-webui", "--jinja"]  # fmt: skip
    else:
        cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--port", str(port),
               "--n_ctx", str(SLOT_CTX), "--n_threads", str(THREADS), "--interrupt_requests", "False"]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=log.open("ab"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    wait_ready(url, proc)
    return url, proc


def start_gateway(engine: str, model: Path, home: Path) -> str:
    env = {**os.environ, "EDGEAGENT_HOME": str(home)}
    cli = [str(Path(sys.executable).parent / "edgeagent")]
    subprocess.run([*cli, "models", "import", str(model), "--name", "m"], env=env, check=True, capture_output=True)
    done = subprocess.run(
        [*cli, "serve", "start", "m", "--engine", engine, "--parallel", str(SLOTS), "--ctx", str(SLOT_CTX),
         "--threads", str(THREADS), "--json"],
        env=env, check=True, capture_output=True, text=True,
    )  # fmt: skip
    return str(json.loads(done.stdout)["base_url"]).removesuffix("/v1")


def diff(after: dict[float, float], before: dict[float, float]) -> dict[float, float]:
    return {le: n - before.get(le, 0.0) for le, n in after.items()}


SCALE = 1


def measure(name: str, url: str, concurrency: int, gateway: bool) -> dict[str, Any]:
    requests = (16 if concurrency == 1 else 8 * concurrency) * SCALE
    before = httpx.get(f"{url}/metrics", timeout=5).text if gateway else ""
    served = bench_endpoint(url, None, None, concurrency, requests, MAX_TOKENS).served
    row = {
        "server": name,
        "concurrency": concurrency,
        "requests": requests,
        "errors": served["errors"],
        "tokens_per_s": served["output_throughput"],
        "ttft_p50_ms": served["ttft_ms"]["p50"],
        "ttft_p99_ms": served["ttft_ms"]["p99"],
        "itl_p50_ms": served["itl_ms"]["p50"],
        "itl_p99_ms": served["itl_ms"]["p99"],
    }
    if gateway:
        after = httpx.get(f"{url}/metrics", timeout=5).text
        for metric, key in (("edgeagent:time_to_first_token_seconds", "ttft"),
                            ("edgeagent:inter_token_latency_seconds", "itl")):  # fmt: skip
            q = quantile(diff(buckets(after, metric), buckets(before, metric)), 0.5)
            row[f"metrics_{key}_p50_ms"] = q * 1000 if q is not None else None
    print(json.dumps(row), flush=True)
    return row


def summarise(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for server in dict.fromkeys(r["server"] for r in rows):
        for c in CONCURRENCY:
            mine = [r for r in rows if r["server"] == server and r["concurrency"] == c]
            entry: dict[str, Any] = {"server": server, "concurrency": c, "rounds": len(mine)}
            for key in mine[0]:
                if key.endswith("_ms") or key == "tokens_per_s":
                    values = [r[key] for r in mine if r.get(key) is not None]
                    entry[key] = statistics.median(values) if values else None
            entry["errors"] = sum(r["errors"] for r in mine)
            out.append(entry)
    ref = {e["concurrency"]: e for e in out if e["server"] == "llama-server"}
    for e in out:
        r = ref[e["concurrency"]]
        e["tokens_per_s_vs_llama_server"] = e["tokens_per_s"] / r["tokens_per_s"]
        e["ttft_p50_vs_llama_server"] = e["ttft_p50_ms"] / r["ttft_p50_ms"]
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("model", type=Path)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/serve_engines.json"))
    ap.add_argument("--concurrency", default="1,4,8", help="comma-separated levels")
    ap.add_argument("--no-llama-cpp", action="store_true", help="llama-server and its gateway only (quick checks)")
    ap.add_argument("--scale", type=int, default=1, help="requests per measurement, times this")
    args = ap.parse_args()
    global CONCURRENCY, SCALE
    SCALE = args.scale
    CONCURRENCY = tuple(int(c) for c in args.concurrency.split(","))
    kinds = ("llama-server",) if args.no_llama_cpp else ("llama-server", "llama-cpp-python")
    engines = ("llama-server",) if args.no_llama_cpp else ("llama-server", "llama-cpp")
    work = Path(tempfile.mkdtemp(prefix="serve-engines-"))
    procs: list[subprocess.Popen[bytes]] = []
    homes = []
    try:
        servers: dict[str, tuple[str, bool]] = {}
        for kind in kinds:
            url, proc = start_direct(kind, args.model, work / f"{kind}.log")
            procs.append(proc)
            servers[kind] = (url, False)
        for engine in engines:
            home = work / f"home-{engine}"
            homes.append(home)
            servers[f"edgeagent serve ({engine})"] = (start_gateway(engine, args.model, home), True)
        for url, _ in servers.values():  # load and warm every model before any measurement
            bench_endpoint(url, None, None, 1, 2, 8)
        rows = []
        for _ in range(args.rounds):
            for c in CONCURRENCY:
                for name, (url, gateway) in servers.items():
                    rows.append(measure(name, url, c, gateway))
    finally:
        for home in homes:
            subprocess.run([str(Path(sys.executable).parent / "edgeagent"), "serve", "stop"],
                           env={**os.environ, "EDGEAGENT_HOME": str(home)}, capture_output=True)  # fmt: skip
        for p in procs:
            p.terminate()
            p.wait(10)
    doc = {
        "command": " ".join(["python", "benchmarks/serve_engines.py", args.model.name, *sys.argv[2:]]),
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{os.cpu_count()} CPUs",
        "setup": {"threads": THREADS, "slots": SLOTS, "slot_context": SLOT_CTX, "max_tokens": MAX_TOKENS},
        "summary": summarise(rows),
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=2) + "\n")
    for e in doc["summary"]:
        print(f"{e['server']:32} c={e['concurrency']}  {e['tokens_per_s']:7.1f} tok/s ({e['tokens_per_s_vs_llama_server']:.2f}x)"
              f"  TTFT p50 {e['ttft_p50_ms']:8.1f} ms ({e['ttft_p50_vs_llama_server']:.2f}x)  ITL p50 {e['itl_p50_ms']:.1f} ms"
              + (f"  [metrics p50: TTFT {e.get('metrics_ttft_p50_ms') or 0:.1f} ITL {e.get('metrics_itl_p50_ms') or 0:.1f}]"
                 if "metrics_ttft_p50_ms" in e else ""))  # fmt: skip


if __name__ == "__main__":
    main()
