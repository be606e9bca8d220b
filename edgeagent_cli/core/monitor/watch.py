"""`monitor`: what to watch, a snapshot of each target from two samples, thresholds, alerts.

Targets: the URLs given; else a deployment's server or nodes (`--deployment`); else every managed
server and every deployment that is up. Rates (requests/s, tokens/s, error rate) come from the
change between two samples; latency quantiles from the histogram's change in that window, or since
the server started when the window saw no request. Thresholds are the deployment's `monitoring:`
(the seed's: response time 2000 ms, error rate 5%, memory 85%), overridden by --threshold; each
violation is an alert, appended to EDGEAGENT_HOME/logs/alerts.jsonl.
"""

from __future__ import annotations

import json
import os
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeagent_cli.core import paths
from edgeagent_cli.core.monitor.probe import Sample, sample
from edgeagent_cli.core.results import Result, Table
from edgeagent_cli.core.serve.metrics import quantile

HISTORY = 60  # samples kept for the sparkline: ten minutes at the default 10 s interval
# threshold -> (row field, "max" when the value must stay below it, "min" when above)
THRESHOLDS = {
    "response_time_ms": ("e2e_p95_ms", "max"),
    "ttft_p95_ms": ("ttft_p95_ms", "max"),
    "error_rate": ("error_rate", "max"),
    "memory_percent": ("memory_percent", "max"),
    "min_tokens_per_s": ("tokens_per_s", "min"),
}


@dataclass
class Target:
    name: str
    url: str
    api_key: str | None = None
    pid: int | None = None
    deployment: str | None = None
    thresholds: dict[str, float] = field(default_factory=dict)
    server: dict[str, Any] | None = None  # a managed server's record: its models' live state is read from it


@dataclass
class Row:
    target: str
    url: str
    kind: str
    healthy: bool
    deployment: str | None
    requests_per_s: float | None
    ttft_p50_ms: float | None
    ttft_p95_ms: float | None
    e2e_p50_ms: float | None
    e2e_p95_ms: float | None
    tokens_per_s: float | None
    error_rate: float | None
    resident_bytes: int | None
    memory_percent: float | None  # of this machine, for targets on it
    models: list[dict[str, Any]]
    window_s: float | None
    history: list[float] = field(default_factory=list)  # requests/s, oldest first
    error: str | None = None


@dataclass
class Alert:
    time: float
    target: str
    deployment: str | None
    threshold: str
    limit: float | None
    value: float | None
    message: str


@dataclass
class Snapshot(Result):
    at: float
    targets: list[Row]
    alerts: list[Alert]
    thresholds: dict[str, dict[str, float]]

    def table(self) -> Table:
        cols = ["target", "kind", "health", "req/s", "ttft p50", "ttft p95", "e2e p50", "e2e p95", "tok/s", "errors",
                "resident", "models"]  # fmt: skip
        return Table(cols, [_cells(r) for r in self.targets])


def _cells(r: Row) -> list[Any]:
    def ms(v: float | None) -> str:
        return "-" if v is None else f"{v:.0f} ms" if v >= 10 else f"{v:.1f} ms"

    def num(v: float | None, fmt: str = "{:.2f}") -> str:
        return "-" if v is None else fmt.format(v)

    size = "-" if r.resident_bytes is None else f"{r.resident_bytes / 2**20:.0f} MiB"
    return [r.target, r.kind, "up" if r.healthy else "DOWN", num(r.requests_per_s), ms(r.ttft_p50_ms),
            ms(r.ttft_p95_ms), ms(r.e2e_p50_ms), ms(r.e2e_p95_ms), num(r.tokens_per_s, "{:.1f}"),
            num(r.error_rate, "{:.1%}"), size, ", ".join(str(m.get("id")) for m in r.models) or "-"]  # fmt: skip


def targets(urls: list[str], deployment: str | None, api_key: str | None) -> list[Target]:
    from edgeagent_cli.core.deploy import lifecycle
    from edgeagent_cli.core.deploy.spec import Deployment, load_deployment, load_file
    from edgeagent_cli.core.serve import manager

    found: list[Target] = [Target(u, u, api_key) for u in urls]
    deps: list[Deployment] = []
    if deployment:
        deps.append(load_deployment(deployment))
    elif not urls:
        for rec in lifecycle.records():
            try:
                deps.append(load_file(Path(rec["file"])))
            except Exception:  # a deployment file moved or broke since `up`: its server is still watched
                continue
    servers = {s["name"]: s for s in manager.states()}
    claimed: set[str] = set()
    for d in deps:
        if d.type == "distributed-edge":
            for n in d.nodes:
                if n.endpoint:
                    key = os.environ.get(n.api_key_env) if n.api_key_env else api_key
                    found.append(Target(f"{d.name}/{n.id}", n.endpoint, key, None, d.name, d.thresholds))
            continue
        st = servers.get(lifecycle.server_name(d.name))
        if st:
            claimed.add(st["name"])
            found.append(Target(d.name, st["base_url"], api_key, st["pid"], d.name, d.thresholds, st))
        elif deployment:
            found.append(Target(d.name, "(not up)", None, None, d.name, d.thresholds))
    if not urls and not deployment:
        for name, st in servers.items():
            if name not in claimed:
                found.append(Target(name, st["base_url"], api_key, st["pid"], server=st))
    return found


class Watcher:
    """Samples every target each step; keeps the last sample and a short history per target."""

    def __init__(self, targets: list[Target], overrides: dict[str, float] | None = None) -> None:
        self.targets = targets
        self.overrides = overrides or {}
        self.last: dict[str, Sample] = {}
        self.history: dict[str, deque[float]] = {t.name: deque(maxlen=HISTORY) for t in targets}

    def step(self) -> Snapshot:
        import psutil

        memory = float(psutil.virtual_memory().percent)
        rows = []
        for t in self.targets:
            if t.url == "(not up)":
                rows.append(Row(t.name, t.url, "unreachable", False, t.deployment, None, None, None, None, None, None,
                                None, None, None, [], None, error="the deployment is not up"))  # fmt: skip
                continue
            cur = sample(t.name, t.url, t.api_key, t.pid)
            if t.server is not None and not cur.models:
                from edgeagent_cli.core.serve.manager import live

                cur.models = [
                    {"id": m.get("id"), "state": m.get("state"), "resident_bytes": m.get("resident_bytes")}
                    for m in live(t.server).get("models") or []
                ]
            row = _row(self.last.get(t.name), cur, t.deployment, memory if t.pid else None)
            self.last[t.name] = cur
            if row.requests_per_s is not None:
                self.history[t.name].append(row.requests_per_s)
            row.history = list(self.history[t.name])
            rows.append(row)
        limits = {t.name: {**t.thresholds, **self.overrides} for t in self.targets}
        return Snapshot(time.time(), rows, evaluate(rows, limits), {k: v for k, v in limits.items() if v})


def _row(prev: Sample | None, cur: Sample, deployment: str | None, memory_percent: float | None) -> Row:
    dt = cur.at - prev.at if prev and prev.kind == cur.kind else None

    def delta(a: float | None, b: float | None) -> float | None:
        return None if a is None or b is None else max(0.0, a - b)

    def window(now: dict[float, float], before: dict[float, float]) -> dict[float, float]:
        d = {le: now[le] - before.get(le, 0.0) for le in now}
        return d if d and max(d.values()) > 0 else now  # no request in the window: since the start

    rps = tps = err = None
    ttft, e2e = cur.ttft, cur.e2e
    if prev is not None and dt:
        reqs = delta(cur.requests, prev.requests)
        rps = None if reqs is None else reqs / dt
        gen = delta(cur.generation_tokens, prev.generation_tokens)
        tps = None if gen is None else gen / dt
        errs = delta(cur.errors, prev.errors)
        if reqs and errs is not None:
            err = errs / reqs
        ttft, e2e = window(cur.ttft, prev.ttft), window(cur.e2e, prev.e2e)
    if err is None and cur.requests and cur.errors is not None:
        err = cur.errors / cur.requests
    if cur.tokens_per_s is not None:
        tps = cur.tokens_per_s

    def q(h: dict[float, float], p: float) -> float | None:
        v = quantile(h, p)
        return None if v is None else v * 1000

    ttft50, ttft95, e2e50, e2e95 = q(ttft, 0.5), q(ttft, 0.95), q(e2e, 0.5), q(e2e, 0.95)
    if cur.probe and "ttft_s" in cur.probe:
        ttft50 = ttft95 = cur.probe["ttft_s"] * 1000
        e2e50 = e2e95 = cur.probe["e2e_s"] * 1000
    return Row(cur.target, cur.url, cur.kind, cur.healthy, deployment, rps, ttft50, ttft95, e2e50, e2e95, tps, err,
               cur.resident_bytes, memory_percent, cur.models, dt, error=cur.error)  # fmt: skip


def evaluate(rows: list[Row], limits: dict[str, dict[str, float]]) -> list[Alert]:
    """Every violated threshold, and every target that does not answer, as an alert."""
    now = time.time()
    alerts = []
    for r in rows:
        if not r.healthy:
            why = f"{r.target} is not answering" + (f" ({r.error})" if r.error else "")
            alerts.append(Alert(now, r.target, r.deployment, "health", None, None, why))
            continue
        for key, limit in limits.get(r.target, {}).items():
            fld, kind = THRESHOLDS[key]
            value = getattr(r, fld)
            if value is None:
                continue  # not measured (no request yet, or the server keeps no such figure)
            if (kind == "max" and value > limit) or (kind == "min" and value < limit):
                word = "above" if kind == "max" else "below"
                alerts.append(Alert(now, r.target, r.deployment, key, limit, round(value, 4),
                                    f"{r.target}: {key} {value:.4g} is {word} {limit:g}"))  # fmt: skip
    return alerts


def record(alerts: list[Alert]) -> None:
    """Append alerts to EDGEAGENT_HOME/logs/alerts.jsonl (one JSON object a line, written whole)."""
    if not alerts:
        return
    from dataclasses import asdict

    path = paths.logs_dir() / "alerts.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(json.dumps(asdict(a)) + "\n" for a in alerts)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def sparkline(values: list[float], width: int = 20) -> str:
    bars = "▁▂▃▄▅▆▇█"
    vals = values[-width:]
    if not vals:
        return ""
    top = max(vals) or 1.0
    return "".join(bars[min(len(bars) - 1, int(v / top * (len(bars) - 1)))] for v in vals)
