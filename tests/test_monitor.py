"""`edgeagent monitor` against the servers it watches: edgeagent serve, llama-server, Ollama (a stub of
its /api/ps and /api/tags), any OpenAI endpoint (a probe request), and one that is down."""

from __future__ import annotations

import json
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import cli, cli_json, one_line_error
from tests.openai_stub import OpenAIStub

PS = {"models": [{"name": "qwen2.5:0.5b", "model": "qwen2.5:0.5b", "size": 1_234_567_890, "size_vram": 0,
                  "expires_at": "2026-11-28T03:00:00Z"}]}  # fmt: skip
TAGS = {"models": [{"name": "qwen2.5:0.5b"}, {"name": "llama3.2:1b"}]}


class _Ollama(BaseHTTPRequestHandler):
    """What Ollama answers: /api/ps, /api/tags, /api/version, and 404 for /metrics (it has none)."""

    def log_message(self, *a: Any) -> None:
        pass

    def do_GET(self) -> None:
        doc = {"/api/ps": PS, "/api/tags": TAGS, "/api/version": {"version": "0.12.0"}}.get(self.path)
        data = json.dumps(doc).encode() if doc is not None else b"404 page not found"
        self.send_response(200 if doc is not None else 404)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def ollama() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Ollama)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _chat(base: str, n: int = 2) -> None:
    for _ in range(n):
        r = httpx.post(f"{base}/chat/completions", timeout=120, json={
            "model": "smol", "messages": [{"role": "user", "content": "Say hello."}], "max_tokens": 8, "stream": True})  # fmt: skip
        assert r.status_code == 200


@pytest.mark.slow
def test_monitor_reads_an_edgeagent_server_and_check_exits_7_only_when_a_threshold_is_crossed(
    smollm2: Path, hermetic: Path
) -> None:
    cli_json("models", "import", str(smollm2), "--name", "smol")
    st = cli_json("serve", "start", "smol", timeout=180)
    try:
        _chat(st["base_url"])
        doc = cli_json("monitor", "--json", "--window", "0.2")  # every managed server, unasked
        [row] = doc["targets"]
        assert row["kind"] == "edgeagent" and row["healthy"] and row["url"] == st["base_url"]
        assert row["ttft_p50_ms"] > 0 and row["ttft_p95_ms"] >= row["ttft_p50_ms"] and row["e2e_p95_ms"] > 0
        assert row["error_rate"] == 0.0 and row["resident_bytes"] > 50 * 2**20
        assert [m["id"] for m in row["models"]] == ["smol"]
        assert doc["alerts"] == []

        done = cli("monitor", st["base_url"], "--check", "--threshold", "ttft_p95_ms=1", "--window", "0.2")
        assert done.returncode == 7
        assert "ttft_p95_ms" in one_line_error(done) and "is above 1" in done.stderr
        alerts = [json.loads(x) for x in (hermetic / "logs" / "alerts.jsonl").read_text().splitlines()]
        assert alerts[-1]["threshold"] == "ttft_p95_ms" and alerts[-1]["limit"] == 1.0 and alerts[-1]["value"] > 1

        ok = cli("monitor", st["base_url"], "--check", "--threshold", "ttft_p95_ms=600000",
                 "--threshold", "error_rate=0.05", "--window", "0.2")  # fmt: skip
        assert ok.returncode == 0, ok.stderr
    finally:
        cli("serve", "stop")


@pytest.mark.slow
def test_monitor_reads_llama_servers_own_metrics(smollm2: Path) -> None:
    from edgeagent_cli.core.serve.engines import llama_server_binary

    binary = llama_server_binary()
    if binary is None:
        pytest.skip("llama-server was not built here (scripts/setup.sh builds it)")
    port = _free_port()
    proc = subprocess.Popen([binary, "-m", str(smollm2), "--port", str(port), "--metrics", "-c", "1024", "-t", "2",
                             "--no-webui"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        busy = threading.Timer(0.5, _chat, (f"{base}/v1", 2))  # tokens generated inside the window
        busy.start()
        [row] = cli_json("monitor", base, "--json", "--window", "3")["targets"]
        busy.join()
        assert row["kind"] == "llama-server" and row["healthy"]
        assert row["tokens_per_s"] > 0
        assert row["ttft_p95_ms"] is None  # llama-server keeps no latency histograms: not invented
    finally:
        proc.terminate()
        proc.wait(10)


def test_monitor_reads_ollama_ps_and_probes_any_openai_endpoint(ollama: str) -> None:
    stub = OpenAIStub("ignore", {"name": "x", "arguments": {}})
    try:
        doc = cli_json("monitor", ollama, stub.url, "--json", "--window", "0.1")
    finally:
        stub.close()
    by_kind = {r["kind"]: r for r in doc["targets"]}
    assert by_kind["ollama"]["healthy"] and by_kind["ollama"]["models"][0]["id"] == "qwen2.5:0.5b"
    assert by_kind["ollama"]["resident_bytes"] == 1_234_567_890
    probe = by_kind["openai"]
    assert probe["healthy"] and probe["models"] == [{"id": "stub-model"}]
    assert 0 < probe["ttft_p50_ms"] <= probe["e2e_p50_ms"]
    assert stub.requests and stub.requests[-1]["max_tokens"] == 4  # a short probe, not a real workload


def test_a_target_that_does_not_answer_is_an_alert(hermetic: Path) -> None:
    url = f"http://127.0.0.1:{_free_port()}"
    done = cli("monitor", url, "--check", "--window", "0.1")
    assert done.returncode == 7 and "is not answering" in one_line_error(done)
    assert json.loads((hermetic / "logs" / "alerts.jsonl").read_text().splitlines()[-1])["threshold"] == "health"
    doc = cli_json("monitor", url, "--json", "--window", "0.1")
    assert doc["targets"][0]["kind"] == "unreachable" and not doc["targets"][0]["healthy"]


def test_monitor_with_nothing_to_watch_says_so() -> None:
    done = cli("monitor", "--json")
    assert done.returncode == 3 and "nothing to monitor" in one_line_error(done)


def test_thresholds_of_a_deployment_file_are_the_checks() -> None:
    from edgeagent_cli.core.monitor.watch import Row, evaluate

    row = Row("edge", "u", "edgeagent", True, "d", 1.0, 100.0, 2500.0, 300.0, 2600.0, 20.0, 0.1, 1, 90.0, [], 1.0)
    limits = {"edge": {"response_time_ms": 2000, "error_rate": 0.05, "memory_percent": 85, "min_tokens_per_s": 10}}
    names = sorted(a.threshold for a in evaluate([row], limits))
    assert names == ["error_rate", "memory_percent", "response_time_ms"]


def test_without_a_terminal_the_live_view_prints_one_table_a_refresh(ollama: str) -> None:
    done = cli("monitor", ollama, "--interval", "0.2", "--count", "2")
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("target") == 2 and done.stdout.count("ollama") >= 2
