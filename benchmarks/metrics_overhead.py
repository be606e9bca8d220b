"""What serve's metrics cost a streamed token: the gateway's per-token metrics work, timed alone.

    .venv/bin/python benchmarks/metrics_overhead.py [ITL_MS]  -> benchmarks/results/metrics_overhead.json

Per content event the gateway searches it for content (one regex) and, for a token, reads the clock
and observes a histogram. That work is timed here over 200,000 events and set against the time a
token takes (ITL p50 from benchmarks/results/serve_engines.json, single stream, unless given).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from edgeagent_cli.core.serve.gateway import _CONTENT, _NO_CHOICES
from edgeagent_cli.core.serve.metrics import Metrics

EVENT = (
    b'data: {"choices":[{"finish_reason":null,"index":0,"delta":{"content":" the"}}],"created":1795820891,'
    b'"id":"chatcmpl-bpFtZGYDvNiHWMMxxq6YAceD9H2184NF","model":"smol","object":"chat.completion.chunk"}\n\n'
)


def main() -> None:
    results = Path("benchmarks/results")
    if len(sys.argv) > 1:
        itl_ms = float(sys.argv[1])
    else:
        engines = json.loads((results / "serve_engines.json").read_text())
        itl_ms = next(e["itl_p50_ms"] for e in engines["summary"]
                      if e["server"] == "edgeagent serve (llama-server)" and e["concurrency"] == 1)  # fmt: skip
    itl = Metrics(lambda: [], lambda: {"": 0}).itl.labels("m")
    n = 200_000
    t0 = time.perf_counter()
    for _ in range(n):
        if _CONTENT.search(EVENT):
            time.perf_counter()
            itl.observe(0.007)
        elif _NO_CHOICES.search(EVENT):
            pass
    per_token_us = (time.perf_counter() - t0) / n * 1e6
    doc = {
        "command": "python benchmarks/metrics_overhead.py",
        "metrics_us_per_token": per_token_us,
        "itl_p50_ms": itl_ms,
        "share_of_single_stream_time_pct": per_token_us / (itl_ms * 1000) * 100,
    }
    (results / "metrics_overhead.json").write_text(json.dumps(doc, indent=2) + "\n")
    print(f"{per_token_us:.2f} us of metrics work a token = {doc['share_of_single_stream_time_pct']:.3f}% "
          f"of a {itl_ms:.1f} ms token")  # fmt: skip


if __name__ == "__main__":
    main()
