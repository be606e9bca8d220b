"""Where an `eval tools` entry's time goes: the router's model passes, the constrained calls, the rest.

    .venv/bin/python benchmarks/bfcl_time_split.py MODEL.gguf CATEGORY [-n 20] [--tree CHECKOUT] [--out F.json]

Runs the first N entries of one BFCL category through the in-process runtime as `eval tools` does and
times Router.scores_many (every model pass of the router) and ConstrainedDecoder.generate (each call's
prompt and decoding). `--tree` runs another checkout of edgeagent (a git worktree of an earlier commit)
with this machine's packages, so two commits can be timed back to back: this machine's speed drifts by
a third within the hour, so only runs side by side compare.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("model", type=Path)
    ap.add_argument("category")
    ap.add_argument("-n", type=int, default=20)
    ap.add_argument("--tree", type=Path, default=ROOT)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    sys.path.insert(0, str(args.tree.resolve()))

    from edgeagent_cli.core.agent import eval as bfcl
    from edgeagent_cli.core.agent.runtime import constrained, router
    from edgeagent_cli.core.agent.runtime.local import LocalRuntime

    spent = {"router": 0.0, "calls": 0.0}

    def timed(cls: type, name: str, key: str) -> None:
        inner = getattr(cls, name)

        def wrapper(self, *a, **k):  # type: ignore[no-untyped-def]
            t0 = time.perf_counter()
            try:
                return inner(self, *a, **k)
            finally:
                spent[key] += time.perf_counter() - t0

        setattr(cls, name, wrapper)

    timed(router.Router, "scores_many", "router")
    timed(constrained.ConstrainedDecoder, "generate", "calls")
    runtime = LocalRuntime(args.model, {"n_ctx": 4096, "n_threads": 2}, max_tokens=256)
    entries, _ = bfcl.load(args.tree / "tests/data/bfcl", None, args.n, [args.category])
    rows = []
    for entry in entries:
        tools, _names = bfcl.tools_for(entry)
        spent.update(router=0.0, calls=0.0)
        t0 = time.perf_counter()
        runtime.turn(bfcl.question_messages(entry), tools, "auto")
        rows.append({"id": entry["id"], "seconds": time.perf_counter() - t0, **spent})
    summary = {
        "tree": str(args.tree.resolve()),
        "category": args.category,
        "entries": len(rows),
        "median_seconds": round(statistics.median(r["seconds"] for r in rows), 3),
        "mean_seconds": round(statistics.mean(r["seconds"] for r in rows), 3),
        "mean_router_seconds": round(statistics.mean(r["router"] for r in rows), 3),
        "mean_call_seconds": round(statistics.mean(r["calls"] for r in rows), 3),
    }
    print(json.dumps(summary))
    if args.out:
        args.out.write_text(json.dumps({**summary, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
