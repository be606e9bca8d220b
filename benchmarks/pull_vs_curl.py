"""Download speed of `edgeagent pull` against curl, from the local test hub, on big files.

    .venv/bin/python benchmarks/pull_vs_curl.py FILE.gguf [FILE.gguf ...] [--rounds N] [--out JSON]

Each FILE is served by tests/hubserver.py (the Hub stand-in the tests use) as test/Big-GGUF. For
each: curl -o (process start included; --dest /dev/shm keeps disk writeback out of both), then `edgeagent pull hf:test/Big-GGUF:QUANT` into an empty
EDGEAGENT_HOME (process start, planning, download, sha256 and registering included), then apart:
`pull --dry-run` (planning alone) and sha256 of the file (hashing alone). Medians over the rounds.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.hubserver import HubServer, RemoteFile  # noqa: E402

REPO = "test/Big-GGUF"


def sha256(path: Path) -> tuple[str, float]:
    t0 = time.perf_counter()
    h = hashlib.sha256()
    with path.open("rb") as f:
        while b := f.read(1 << 20):
            h.update(b)
    return h.hexdigest(), time.perf_counter() - t0


def timed(cmd: list[str], env: dict[str, str]) -> float:
    os.sync()  # the previous run's writeback does not land in this one's time
    t0 = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    took = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"{cmd[:4]} failed: {done.stderr[-400:]}")
    return took


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("files", nargs="+")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--out", default=str(ROOT / "benchmarks/results/pull_vs_curl.json"))
    ap.add_argument("--label", default="")
    ap.add_argument(
        "--chunk-delay-ms",
        type=float,
        default=0.0,
        help="the hub sleeps this long after each 256 KiB: a link slower than this machine's CPU",
    )
    ap.add_argument("--dest", default="/tmp", help="where downloads land (/dev/shm: no disk writeback noise)")
    ap.add_argument(
        "--tree", help="run edgeagent from this checkout (PYTHONPATH), e.g. a worktree of an earlier commit"
    )
    a = ap.parse_args()
    rows = []
    with HubServer() as hub:
        hub.faults.delay_per_chunk = a.chunk_delay_ms / 1000
        for f in map(Path, a.files):
            digest, hash_s = sha256(f)
            name = f"Big-{f.stat().st_size // 10**9}G-Q4_1.gguf"
            hub.add(REPO, name, RemoteFile(path=f, sha256=digest))
            url = f"{hub.url}/{REPO}/resolve/main/{name}"
            curl, pull, dry = [], [], []
            for _ in range(a.rounds):
                with tempfile.TemporaryDirectory(dir=a.dest) as d:
                    curl.append(timed(["curl", "-sS", "-o", f"{d}/x", url], dict(os.environ)))
                with tempfile.TemporaryDirectory(dir=a.dest) as d:
                    env = {**os.environ, "EDGEAGENT_HOME": d, "HF_ENDPOINT": hub.url, "HF_HUB_DISABLE_TELEMETRY": "1"}
                    if a.tree:
                        env["PYTHONPATH"] = a.tree
                    exe = [str(ROOT / ".venv/bin/python"), "-m", "edgeagent_cli", "pull", f"hf:{REPO}:Q4_1",
                           "--max-memory", "64GB"]  # fmt: skip
                    dry.append(timed([*exe, "--dry-run"], env))
                    pull.append(timed(exe, env))
            size = f.stat().st_size
            c, p = statistics.median(curl), statistics.median(pull)
            rows.append({
                "file_bytes": size, "curl_s": round(c, 3), "pull_s": round(p, 3), "pull_vs_curl": round(c / p, 3),
                "curl_MBps": round(size / c / 1e6, 1), "pull_MBps": round(size / p / 1e6, 1),
                "planning_s": round(statistics.median(dry), 3), "sha256_alone_s": round(hash_s, 3),
                "rounds": {"curl": [round(x, 3) for x in curl], "pull": [round(x, 3) for x in pull]},
            })  # fmt: skip
            print(json.dumps(rows[-1]))
    tree = subprocess.run(["git", "-C", a.tree or str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                          text=True).stdout.strip()  # fmt: skip
    doc = {"dest": a.dest, "chunk_delay_ms": a.chunk_delay_ms, "command": " ".join(["benchmarks/pull_vs_curl.py", *sys.argv[1:]]), "label": a.label, "commit": tree,
           "cpus": os.cpu_count(), "results": rows}  # fmt: skip
    out = Path(a.out)
    old = json.loads(out.read_text()) if out.exists() else {}
    runs = old.get("runs", []) if isinstance(old, dict) else []
    out.write_text(json.dumps({"runs": [*runs, doc]}, indent=2) + "\n")


if __name__ == "__main__":
    main()
