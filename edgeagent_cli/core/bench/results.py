"""Bench results around the measurement: the typed result, fingerprint, baseline gate, history."""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgeagent_cli.core import paths
from edgeagent_cli.core.errors import EdgeError, ExitCode
from edgeagent_cli.core.results import Result, Table

if TYPE_CHECKING:
    from edgeagent_cli.core.hardware.machine import Machine

HIGHER_IS_BETTER = ("avg_ts",)
COLUMNS = ["model", "test", "n_threads", "avg_ts", "stddev_ts", "avg_ns", "n_gpu_layers"]


@dataclass
class BenchResult(Result):
    """llama-bench's field names in `results`; served latency (vLLM's definitions) in `served`."""

    results: list[dict[str, Any]] = field(default_factory=list)
    latency: dict[str, Any] = field(default_factory=dict)
    memory: dict[str, Any] = field(default_factory=dict)
    hardware: dict[str, Any] | None = None
    build: dict[str, Any] | None = None
    endpoint: str | None = None
    model: str | None = None
    served: dict[str, Any] | None = None
    regressions: list[str] = field(default_factory=list)
    settings: dict[str, Any] | None = None

    @property
    def all_failed(self) -> bool:
        """An endpoint run in which no request completed."""
        return self.served is not None and self.served["completed"] == 0

    def table(self) -> Table:
        return Table(COLUMNS, [[r.get(c) for c in COLUMNS] for r in self.results])


@dataclass
class BenchHistory(Result):
    runs: list[dict[str, Any]]


def fingerprint(machine: Machine) -> dict[str, Any]:
    import platform

    cpu = machine.cpu
    fp = {
        "cpu": cpu["model"],
        "arch": cpu["arch"],
        "physical_cores": cpu["physical_cores"],
        "logical_cores": cpu["logical_cores"],
        "features": cpu["features"],
        "memory_bytes": machine.memory["total_bytes"],
        "gpus": [g["name"] for g in machine.gpus],
        "os": f"{platform.system()} {platform.release()}",
    }
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
                found.append(
                    f"{r['test']} t={r['n_threads']} {r['avg_ts']:.1f} t/s vs baseline {b['avg_ts']:.1f} (-{drop:.1f}%)"
                )
    return found


def load_baseline(path: Path) -> dict[str, Any]:
    """A bench --json document with its results; read before anything is measured."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as e:
        raise EdgeError(f"no such baseline file: {path}", code=ExitCode.NOT_FOUND) from e
    except (ValueError, OSError) as e:  # UnicodeDecodeError is a ValueError
        raise EdgeError(f"{path} is not a bench --json document: {e}", code=ExitCode.USAGE) from e
    results = doc.get("results") if isinstance(doc, dict) else None
    if not isinstance(results, list) or not all(
        isinstance(r, dict) and {"test", "n_threads", "avg_ts"} <= r.keys() for r in results
    ):
        raise EdgeError(
            f"{path} is not a bench --json document: no results with test, n_threads, avg_ts", code=ExitCode.USAGE
        )
    return doc


def history_path() -> Path:
    return paths.home() / "bench-history.jsonl"


def append_history(result: BenchResult) -> None:
    path = history_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps({"time": time.time(), **result.fields()}, default=str)
    with path.open("a", encoding="utf-8") as f:  # one line per run: appends of < PIPE_BUF never interleave
        f.write(line + "\n")


def read_history() -> BenchHistory:
    path = history_path()
    if not path.exists():
        return BenchHistory([])
    out = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            run = json.loads(line)
        except ValueError:
            continue  # a torn last line from a killed run
        if isinstance(run, dict) and isinstance(run.get("time"), int | float) and isinstance(run.get("results"), list):
            run["results"] = [
                r for r in run["results"] if isinstance(r, dict) and {"test", "n_threads", "avg_ts"} <= r.keys()
            ]
            out.append(run)
    return BenchHistory(out)
