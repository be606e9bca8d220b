"""edgeagent bench vs llama-bench, measured alternately in one run (shared machines are noisy).

    python benchmarks/compare_llama_bench.py --llama-bench PATH --model MODEL.gguf [--threads 1,2] [--rounds 2]

llama-bench must be built from the llama.cpp vendored in the same llama-cpp-python sdist, with the same
CMAKE flags (see benchmarks/build_llama_bench.sh). Writes benchmarks/results/llama_bench_compare.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path


def llama_bench(binary: str, model: str, threads: int, reps: int) -> dict[str, float]:
    out = subprocess.run(
        [binary, "-m", model, "-t", str(threads), "-p", "512", "-n", "128", "-r", str(reps), "-o", "json"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {("pp512" if r["n_prompt"] else "tg128"): r["avg_ts"] for r in json.loads(out)}


def edgeagent_bench(model: str, threads: int, reps: int) -> dict[str, float]:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "edgeagent_cli",
            "bench",
            model,
            "-t",
            str(threads),
            "-r",
            str(reps),
            "--no-latency",
            "--json",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {r["test"]: r["avg_ts"] for r in json.loads(out)["results"]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--llama-bench", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "llama_bench_compare.json"))
    args = ap.parse_args()
    rows = []
    for threads in [int(t) for t in args.threads.split(",")]:
        pairs: dict[str, list[tuple[float, float]]] = {"pp512": [], "tg128": []}
        for _ in range(args.rounds):
            ref = llama_bench(args.llama_bench, args.model, threads, args.reps)
            ours = edgeagent_bench(args.model, threads, args.reps)
            for test in pairs:
                pairs[test].append((ours[test], ref[test]))
                print(
                    f"t={threads} {test}: edgeagent {ours[test]:.1f} vs llama-bench {ref[test]:.1f} t/s",
                    file=sys.stderr,
                )
        for test, p in pairs.items():
            ours_avg, ref_avg = statistics.fmean(o for o, _ in p), statistics.fmean(r for _, r in p)
            rows.append(
                {
                    "threads": threads,
                    "test": test,
                    "edgeagent_ts": [o for o, _ in p],
                    "llama_bench_ts": [r for _, r in p],
                    "ratio": ours_avg / ref_avg,
                    "within_5pct": abs(ours_avg / ref_avg - 1) <= 0.05,
                }
            )
    doc = {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "machine": platform.processor() or platform.machine(),
        "model": Path(args.model).name,
        "reps": args.reps,
        "rounds": args.rounds,
        "rows": rows,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(doc, indent=2) + "\n")
    for r in rows:
        print(f"t={r['threads']} {r['test']}: ratio {r['ratio']:.3f} {'OK' if r['within_5pct'] else 'OUTSIDE 5%'}")


if __name__ == "__main__":
    main()
