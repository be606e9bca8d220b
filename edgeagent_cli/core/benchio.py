"""Bench results around the measurement: fingerprint, baseline gate, history, CSV/Markdown."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import time
from pathlib import Path
from typing import Any

from edgeagent_cli import paths
from edgeagent_cli.errors import EdgeError, ExitCode

HIGHER_IS_BETTER = ("avg_ts",)


def fingerprint(survey_doc: dict[str, Any]) -> dict[str, Any]:
    cpu, gpus = survey_doc["cpu"], survey_doc["gpus"]
    fp = {
        "cpu": cpu["model"], "arch": cpu["arch"], "physical_cores": cpu["physical_cores"],
        "logical_cores": cpu["logical_cores"], "features": cpu["features"],
        "memory_bytes": survey_doc["memory"]["total_bytes"], "gpus": [g["name"] for g in gpus],
        "os": f"{survey_doc['os']['system']} {survey_doc['os']['release']}",
    }  # fmt: skip
    fp["id"] = hashlib.sha256(json.dumps(fp, sort_keys=True).encode()).hexdigest()[:16]
    return fp


def _key(r: dict[str, Any]) -> tuple[Any, ...]:
    return (Path(str(r.get("model_path") or r.get("model"))).name, r["test"], r["n_threads"])


def regressions(results: list[dict[str, Any]], baseline: dict[str, Any], max_pct: float) -> list[str]:
    """Figures worse than the baseline by more than max_pct, named so a CI log says which."""
    base = {_key(r): r for r in baseline.get("results", [])}
    found = []
    for r in results:
        b = base.get(_key(r))
        if b and b.get("avg_ts"):
            drop = (b["avg_ts"] - r["avg_ts"]) / b["avg_ts"] * 100
            if drop > max_pct:
                found.append(f"{r['test']} t={r['n_threads']} {r['avg_ts']:.1f} t/s vs baseline {b['avg_ts']:.1f} (-{drop:.1f}%)")
    return found


def load_baseline(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as e:
        raise EdgeError(f"no such baseline file: {path}", code=ExitCode.NOT_FOUND) from e
    except ValueError as e:
        raise EdgeError(f"{path} is not a bench --json document: {e}", code=ExitCode.USAGE) from e


def history_path() -> Path:
    return paths.home() / "bench-history.jsonl"


def append_history(doc: dict[str, Any]) -> None:
    path = history_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps({"time": time.time(), **doc}, default=str)
    with path.open("a", encoding="utf-8") as f:  # one line per run: appends of < PIPE_BUF never interleave
        f.write(line + "\n")


def read_history() -> list[dict[str, Any]]:
    path = history_path()
    if not path.exists():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue  # a torn last line from a killed run
    return out


COLUMNS = ["model", "test", "n_threads", "avg_ts", "stddev_ts", "avg_ns", "n_gpu_layers"]


def to_csv(results: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=COLUMNS, extrasaction="ignore")
    w.writeheader()
    for r in results:
        w.writerow(r)
    return buf.getvalue()


def to_markdown(results: list[dict[str, Any]]) -> str:
    lines = ["| model | test | threads | t/s |", "|---|---|---:|---:|"]
    for r in results:
        lines.append(f"| {r['model']} | {r['test']} | {r['n_threads']} | {r['avg_ts']:.2f} ± {r['stddev_ts']:.2f} |")
    return "\n".join(lines) + "\n"
