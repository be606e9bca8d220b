"""`edgeagent --help` start-up, median of N runs, written to benchmarks/results/startup.json.

Give other checkouts to compare them in the same run with the same interpreter, alternating:

    python benchmarks/startup.py [--runs 10] [OTHER_CHECKOUT ...]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("trees", nargs="*", type=Path)
    ap.add_argument("--runs", type=int, default=10)
    args = ap.parse_args()
    trees = {"this checkout": HERE, **{str(t): t.resolve() for t in args.trees}}
    times: dict[str, list[float]] = {name: [] for name in trees}
    for _ in range(args.runs):
        for name, tree in trees.items():
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-m", "edgeagent_cli", "--help"], cwd=tree, capture_output=True, check=True)
            times[name].append((time.perf_counter() - t0) * 1000)
    doc = {
        "command": f"python benchmarks/startup.py --runs {args.runs} {' '.join(map(str, args.trees))}".strip(),
        "python": sys.version.split()[0],
        "results": {
            n: {
                "median_ms": round(statistics.median(v), 1),
                "min_ms": round(min(v), 1),
                "max_ms": round(max(v), 1),
                "runs": len(v),
            }
            for n, v in times.items()
        },
    }
    out = HERE / "benchmarks" / "results" / "startup.json"
    out.write_text(json.dumps(doc, indent=2) + "\n")
    print(json.dumps(doc["results"], indent=2))


if __name__ == "__main__":
    main()
