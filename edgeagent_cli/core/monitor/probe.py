"""One look at a serving endpoint, whatever it is: what it is, whether it answers, and its counters.

- `edgeagent serve` and vLLM: their Prometheus /metrics (the same names, `edgeagent:` or `vllm:`):
  request and token counters, TTFT and end-to-end latency histograms, resident memory.
- llama-server: /health and its /metrics (`llamacpp:*`: token counters; it keeps no request counter
  and no latency histograms, so those stay empty rather than invented).
- Ollama: /api/ps (loaded models and their memory) and /api/tags; no latency figures of its own.
- Any other OpenAI-compatible endpoint: a probe request (one short streamed completion) for TTFT and
  end-to-end time.

Every sample is cumulative, as Prometheus counters are; `watch` turns two samples into rates.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

TIMEOUT = 3.0  # seconds: a monitor must not hang on one dead server


@dataclass
class Sample:
    target: str
    url: str
    kind: str  # edgeagent | vllm | llama-server | ollama | openai | unreachable
    healthy: bool
    at: float
    requests: float | None = None
    errors: float | None = None
    generation_tokens: float | None = None
    ttft: dict[float, float] = field(default_factory=dict)  # cumulative histogram buckets (le -> count)
    e2e: dict[float, float] = field(default_factory=dict)
    resident_bytes: int | None = None
    tokens_per_s: float | None = None  # a server's own gauge (llama-server), else derived from counters
    models: list[dict[str, Any]] = field(default_factory=list)
    probe: dict[str, float] | None = None  # the probe request's figures (OpenAI endpoints)
    error: str | None = None


def _root(url: str) -> str:
    url = url.rstrip("/")
    return url[: -len("/v1")] if url.endswith("/v1") else url


def sample(target: str, url: str, api_key: str | None = None, pid: int | None = None) -> Sample:
    """Probe one endpoint; never raises for a server that is down or odd (that is what it reports)."""
    import httpx

    from edgeagent_cli.core.util.http import bearer

    root = _root(url)
    now = time.time()
    try:
        with httpx.Client(headers=bearer(api_key), timeout=TIMEOUT) as client:
            r = client.get(f"{root}/metrics")
            text = r.text if r.status_code == 200 else ""
            if "edgeagent:" in text:
                s = _prometheus(target, url, "edgeagent", text, now)
                s.healthy = _ok(client, f"{root}/health")
            elif "vllm:" in text:
                s = _prometheus(target, url, "vllm", text, now)
                s.healthy = _ok(client, f"{root}/health")
            elif "llamacpp:" in text:
                s = _llama_server(target, url, text, now)
                s.healthy = _ok(client, f"{root}/health")
            else:
                s = _ollama(client, target, url, root, now) or _openai(client, target, url, root, now)
    except httpx.HTTPError as e:
        return Sample(target, url, "unreachable", False, now, error=f"{type(e).__name__}")
    if pid and s.resident_bytes is None:
        s.resident_bytes = process_tree_rss(pid)
    return s


def _ok(client: Any, url: str) -> bool:
    try:
        return bool(client.get(url).status_code == 200)
    except Exception:  # a health check that fails in any way is unhealthy, not a crash of the monitor
        return False


def process_tree_rss(pid: int) -> int | None:
    import psutil

    try:
        proc = psutil.Process(pid)
        return int(proc.memory_info().rss + sum(c.memory_info().rss for c in proc.children(recursive=True)))
    except psutil.Error:
        return None


def _families(text: str) -> dict[str, Any]:
    from prometheus_client.parser import text_string_to_metric_families

    try:
        return {f.name: f for f in text_string_to_metric_families(text)}
    except ValueError:
        return {}


def _total(fams: dict[str, Any], name: str, where: Any = None) -> float | None:
    fam = fams.get(name)
    if fam is None:
        return None
    return sum(s.value for s in fam.samples if s.name in (name, f"{name}_total") and (where is None or where(s.labels)))


def _buckets(fams: dict[str, Any], name: str) -> dict[float, float]:
    out: dict[float, float] = {}
    fam = fams.get(name)
    for s in fam.samples if fam else []:
        if s.name == f"{name}_bucket":
            le = float(s.labels["le"])
            out[le] = out.get(le, 0.0) + s.value
    return out


def _prometheus(target: str, url: str, kind: str, text: str, now: float) -> Sample:
    p = f"{kind}:"
    fams = _families(text)
    s = Sample(target, url, kind, True, now)
    if kind == "edgeagent":
        s.requests = _total(fams, f"{p}requests")
        s.errors = _total(fams, f"{p}requests", lambda labels: labels.get("status", "").startswith("5"))
        models = fams.get(f"{p}model_resident_bytes")
        s.models = (
            [{"id": x.labels.get("model"), "resident_bytes": int(x.value)} for x in models.samples] if models else []
        )
        process = _total(fams, f"{p}process_resident_bytes")
        if process is not None:
            s.resident_bytes = int(process + sum(m["resident_bytes"] for m in s.models))
    else:  # vLLM: finished requests by reason; aborted ones are the failures it counts
        s.requests = _total(fams, f"{p}request_success")
        s.errors = _total(fams, f"{p}request_success", lambda labels: labels.get("finished_reason") == "abort")
        rss = _total(fams, "process_resident_memory_bytes")
        s.resident_bytes = int(rss) if rss is not None else None
    s.generation_tokens = _total(fams, f"{p}generation_tokens")
    s.ttft = _buckets(fams, f"{p}time_to_first_token_seconds")
    s.e2e = _buckets(fams, f"{p}e2e_request_latency_seconds")
    return s


def _llama_server(target: str, url: str, text: str, now: float) -> Sample:
    fams = _families(text)
    s = Sample(target, url, "llama-server", True, now)
    # Its `predicted_tokens_seconds` gauge is reset by every scrape (a second monitor would zero ours):
    # tokens/s comes from the token counter, as for the others. It counts no requests and no latencies.
    s.generation_tokens = _total(fams, "llamacpp:tokens_predicted")
    return s


def _ollama(client: Any, target: str, url: str, root: str, now: float) -> Sample | None:
    r = client.get(f"{root}/api/ps")
    if r.status_code != 200:
        return None
    try:
        doc = r.json()
    except ValueError:
        return None
    if not isinstance(doc, dict) or not isinstance(doc.get("models"), list):
        return None  # some other server that answers every path
    ps = doc["models"]
    s = Sample(target, url, "ollama", True, now)
    s.models = [
        {"id": m.get("name") or m.get("model"), "resident_bytes": int(m.get("size") or 0),
         "vram_bytes": int(m.get("size_vram") or 0), "expires_at": m.get("expires_at")}
        for m in ps
    ]  # fmt: skip
    s.resident_bytes = sum(m["resident_bytes"] for m in s.models)
    tags = client.get(f"{root}/api/tags")
    if tags.status_code == 200:
        try:
            s.probe = {"models_available": float(len(tags.json().get("models") or []))}
        except (ValueError, AttributeError):
            pass
    return s


def _openai(client: Any, target: str, url: str, root: str, now: float) -> Sample:
    """A probe request: the first model, one short streamed answer, timed."""
    r = client.get(f"{root}/v1/models")
    if r.status_code != 200:
        return Sample(target, url, "openai", False, now, error=f"/v1/models answered {r.status_code}")
    try:
        model = (r.json().get("data") or [{}])[0].get("id")
    except (ValueError, AttributeError, IndexError):
        model = None
    body = {"model": model, "messages": [{"role": "user", "content": "Say OK."}], "max_tokens": 4, "stream": True}
    t0 = time.perf_counter()
    first = None
    with client.stream("POST", f"{root}/v1/chat/completions", json=body) as resp:
        if resp.status_code != 200:
            return Sample(target, url, "openai", False, now, errors=1.0, requests=1.0,
                          error=f"probe answered {resp.status_code}")  # fmt: skip
        for line in resp.iter_lines():
            if first is None and line.startswith("data:") and '"content"' in line and line.strip() != "data: [DONE]":
                first = time.perf_counter() - t0
    e2e = time.perf_counter() - t0
    s = Sample(target, url, "openai", True, now, requests=1.0, errors=0.0)
    s.probe = {"ttft_s": first if first is not None else e2e, "e2e_s": e2e}
    s.models = [{"id": model}] if model else []
    return s
