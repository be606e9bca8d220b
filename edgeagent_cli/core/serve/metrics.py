"""Prometheus metrics of `edgeagent serve` (prometheus-client), vLLM's names and definitions with our prefix.

TTFT: request received (before its body is read) to the first content token handed to the client's
connection; ITL: between consecutive content tokens of a stream, timed the same way;
E2E: request received to the last byte; queue time: waiting for a free slot of the model. Buckets are
vLLM's, with finer steps below 100 ms, where a small model on a CPU serves its tokens (vLLM's ITL
buckets start at 10 ms and jump to 25 ms: a p50 read from them would be off by 40%).

A llama-server backend's own /metrics (`llamacpp:*`) is scraped at each scrape of ours and re-exported
with a `model` label, not re-derived.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

# 1 ms steps to 60 ms, 2.5 ms steps to 100 ms: a p50 read from these is within a few percent
FINE = [round(0.001 * i, 3) for i in range(1, 61)] + [round(0.06 + 0.0025 * i, 4) for i in range(1, 17)]
# above 100 ms: vLLM's, with steps between 1 and 10 s, where requests queued behind busy slots land
TTFT_BUCKETS = FINE + [0.125, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.75, 0.9, 1.0, 1.1, 1.25, 1.4, 1.6, 1.8, 2.0,
                       2.25, 2.5, 3.0, 3.5, 4.0, 5.0, 6.0, 7.5, 10.0, 20.0, 40.0, 80.0, 160.0, 640.0, 2560.0]  # fmt: skip
ITL_BUCKETS = FINE + [0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0]
E2E_BUCKETS = [0.05, 0.1, 0.2, 0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0,
               120.0, 240.0, 480.0, 960.0, 1920.0, 7680.0]  # fmt: skip
QUEUE_BUCKETS = [0.0, 0.001, 0.005, 0.01, 0.025, 0.05] + E2E_BUCKETS[1:]


class Metrics:
    """One registry per gateway. `scrape_backends` returns (model, /metrics text) of running llama-servers."""

    def __init__(self, scrape_backends: Callable[[], Iterable[tuple[str, str]]], rss: Callable[[], dict[str, int]]):
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        p = "edgeagent:"
        self.requests = Counter(f"{p}requests", "Requests by model, endpoint and HTTP status.",
                                ["model", "endpoint", "status"], registry=r)  # fmt: skip
        self.ttft = Histogram(f"{p}time_to_first_token_seconds", "Request received to first content token.",
                              ["model"], buckets=TTFT_BUCKETS, registry=r)  # fmt: skip
        self.itl = Histogram(f"{p}inter_token_latency_seconds", "Between consecutive content tokens of a stream.",
                             ["model"], buckets=ITL_BUCKETS, registry=r)  # fmt: skip
        self.e2e = Histogram(f"{p}e2e_request_latency_seconds", "Request received to its last byte.",
                             ["model"], buckets=E2E_BUCKETS, registry=r)  # fmt: skip
        self.queue = Histogram(f"{p}request_queue_time_seconds", "Waiting for a free slot of the model.",
                               ["model"], buckets=QUEUE_BUCKETS, registry=r)  # fmt: skip
        self.prompt_tokens = Counter(f"{p}prompt_tokens", "Prompt tokens processed.", ["model"], registry=r)
        self.generation_tokens = Counter(f"{p}generation_tokens", "Tokens generated.", ["model"], registry=r)
        self.running = Gauge(f"{p}num_requests_running", "Requests being decoded.", ["model"], registry=r)
        self.waiting = Gauge(f"{p}num_requests_waiting", "Requests waiting for a slot.", ["model"], registry=r)
        self.loads = Counter(f"{p}model_loads", "Times a model was loaded.", ["model"], registry=r)
        self.load_seconds = Histogram(f"{p}model_load_seconds", "Seconds to load a model and see it answer.",
                                      ["model"], buckets=[0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300], registry=r)  # fmt: skip
        self.tool_calls = Counter(f"{p}tool_calls", "Tool calls returned, by tool and outcome.",
                                  ["model", "tool", "outcome"], registry=r)  # fmt: skip
        resident = Gauge(f"{p}model_resident_bytes", "Resident memory of each loaded model's engine process.",
                         ["model"], registry=r)  # fmt: skip
        process = Gauge(f"{p}process_resident_bytes", "Resident memory of the gateway process.", registry=r)
        self._rss = rss
        self._resident = resident
        self._process = process
        r.register(_Reexport(scrape_backends))

    def render(self) -> bytes:
        """The exposition text; memory gauges are read now."""
        from prometheus_client import generate_latest

        sizes = self._rss()
        self._process.set(sizes.pop("", 0))
        self._resident.clear()
        for model, size in sizes.items():
            self._resident.labels(model).set(size)
        return bytes(generate_latest(self.registry))


class _Reexport:
    """Each running llama-server's `llamacpp:*` metrics, with the model it serves as a label."""

    def __init__(self, scrape: Callable[[], Iterable[tuple[str, str]]]) -> None:
        self._scrape = scrape

    def describe(self) -> list[Any]:
        return []  # unknown until scraped: never checked for clashes at registration

    def collect(self) -> Iterable[Any]:
        from prometheus_client.core import Metric
        from prometheus_client.parser import text_string_to_metric_families

        merged: dict[str, Any] = {}
        for model, text in self._scrape():
            try:
                families = list(text_string_to_metric_families(text))
            except ValueError:
                continue  # a backend answering garbage does not take our metrics down with it
            for fam in families:
                out = merged.get(fam.name)
                if out is None:
                    out = merged[fam.name] = Metric(fam.name, fam.documentation, fam.type, fam.unit)
                for s in fam.samples:
                    out.add_sample(s.name, {**s.labels, "model": model}, s.value, s.timestamp)
        return list(merged.values())


def buckets(text: str, name: str, labels: dict[str, str] | None = None) -> dict[float, float]:
    """A histogram's cumulative bucket counts (le -> count) in one scrape, summed over other labels."""
    from prometheus_client.parser import text_string_to_metric_families

    out: dict[float, float] = {}
    for fam in text_string_to_metric_families(text):
        if fam.name != name:
            continue
        for s in fam.samples:
            if s.name == f"{name}_bucket" and all(s.labels.get(k) == v for k, v in (labels or {}).items()):
                le = float(s.labels["le"])
                out[le] = out.get(le, 0.0) + s.value
    return out


def quantile(counts: dict[float, float], q: float) -> float | None:
    """PromQL's histogram_quantile: linear within the bucket that holds the quantile."""
    if not counts:
        return None
    bounds = sorted(counts)
    total = counts[bounds[-1]]
    if total <= 0:
        return None
    rank = q * total
    prev_bound, prev_count = 0.0, 0.0
    for b in bounds:
        if counts[b] >= rank:
            if b == float("inf"):
                return prev_bound
            return prev_bound + (b - prev_bound) * (rank - prev_count) / max(counts[b] - prev_count, 1e-12)
        prev_bound, prev_count = b, counts[b]
    return bounds[-1]
