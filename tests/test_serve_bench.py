from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import cli, cli_json, one_line_error

pytestmark = pytest.mark.slow


@pytest.fixture
def stored(smollm2: Path) -> str:
    return str(cli_json("models", "import", str(smollm2), "--name", "smol")["model"]["name"])


@pytest.fixture
def server(stored: str) -> Iterator[dict]:
    doc = cli_json("serve", "start", stored, timeout=180)
    try:
        yield doc
    finally:
        cli("serve", "stop")


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return Path(f"/proc/{pid}/status").exists() and "zombie" in Path(f"/proc/{pid}/status").read_text()


def test_serve_answers_the_official_openai_client_and_stops_clean(server: dict) -> None:
    from openai import OpenAI

    client = OpenAI(base_url=server["base_url"], api_key="unused")
    assert [m.id for m in client.models.list().data] == ["smol"]
    reply = client.chat.completions.create(model="smol", messages=[{"role": "user", "content": "Say hi"}], max_tokens=8)
    assert reply.choices[0].message.content
    chunks = list(
        client.chat.completions.create(
            model="smol", messages=[{"role": "user", "content": "Count to 3"}], max_tokens=8, stream=True
        )
    )
    assert sum(1 for c in chunks if c.choices and c.choices[0].delta.content) >= 2
    again = cli_json("serve", "start", "smol")
    assert again["already_running"] is True and again["pid"] == server["pid"]
    status = cli_json("serve", "status")["servers"]
    assert status[0]["healthy"] and status[0]["rss_bytes"] > 50 * 2**20
    assert cli("serve", "stop").returncode == 0
    assert _gone(server["pid"])
    assert cli_json("serve", "status")["servers"] == []


def test_non_loopback_host_without_key_is_refused(stored: str) -> None:
    done = cli("serve", "start", stored, "--host", "0.0.0.0")
    assert done.returncode == 2 and "--api-key" in one_line_error(done)


def test_vllm_engine_prints_the_command_when_vllm_is_missing() -> None:
    done = cli("serve", "start", "Qwen/Qwen2.5-7B-Instruct", "--engine", "vllm", "--deployment", "production")
    assert done.returncode == 3
    line = one_line_error(done)
    assert (
        "vllm serve Qwen/Qwen2.5-7B-Instruct" in line
        and "--enable-prefix-caching" in line
        and "--max-num-seqs 8" in line
    )


def test_endpoint_bench_with_concurrency_4_then_a_stopped_server(server: dict) -> None:
    doc = cli_json(
        "bench", "--endpoint", server["base_url"], "--concurrency", "4", "--requests", "8", "--max-tokens", "16"
    )
    served = doc["served"]
    assert served["errors"] == 0 and served["completed"] == 8
    for figure in ("ttft_ms", "itl_ms", "tpot_ms", "e2e_ms"):
        s = served[figure]
        assert 0 < s["p50"] <= s["p90"] <= s["p99"], figure
    cli("serve", "stop")
    done = cli("bench", "--endpoint", server["base_url"], "--requests", "2")
    assert done.returncode == 5


def test_in_process_bench_keeps_llama_bench_fields_and_records_memory(stored: str) -> None:
    doc = cli_json("bench", stored, "-t", "1,2", "-p", "64", "-n", "16", "-r", "2", "--no-latency")
    tests = {(r["test"], r["n_threads"]) for r in doc["results"]}
    assert tests == {("pp64", 1), ("tg16", 1), ("pp64", 2), ("tg16", 2)}
    for r in doc["results"]:
        assert len(r["samples_ts"]) == len(r["samples_ns"]) == 2 and r["avg_ts"] > 0
        assert {"model", "model_path", "n_prompt", "n_gen", "avg_ns", "stddev_ns", "stddev_ts"} <= r.keys()
    assert doc["hardware"]["id"] and "AVX2" in doc["build"]["system_info"]
    (mem,) = cli_json("models", "show", stored)["memory"]
    assert mem["context"] == 2048 and abs(mem["error_pct"]) < 15, mem


def test_baseline_with_better_figures_exits_7(stored: str, tmp_path: Path) -> None:
    doc = cli_json("bench", stored, "-p", "32", "-n", "8", "-r", "2", "--no-latency")
    for r in doc["results"]:
        r["avg_ts"] *= 10  # far above any run on a loaded machine: the gate must trip
    base = tmp_path / "base.json"
    base.write_text(json.dumps(doc))
    done = cli(
        "bench",
        stored,
        "-p",
        "32",
        "-n",
        "8",
        "-r",
        "2",
        "--no-latency",
        "--baseline",
        str(base),
        "--max-regression",
        "10",
    )
    assert done.returncode == 7
    assert "pp32" in done.stderr and "tg8" in done.stderr
    history = cli_json("bench", "--history")["runs"]
    assert len(history) == 2


def test_bench_of_a_missing_model_exits_3() -> None:
    done = cli("bench", "no-such-model")
    assert done.returncode == 3
    one_line_error(done)


def test_a_template_that_loops_on_one_request_fails_that_request_in_seconds(tmp_path: Path, smollm2: Path) -> None:
    import time

    import httpx

    from tests.gguf_craft import with_template

    loops_on = "{% for i in range(99999) %}{% for j in range(99999) %}{% endfor %}{% endfor %}"
    tpl = (f"{{% for m in messages %}}{{% if 'loop' in m.content %}}{loops_on}{{% endif %}}"
           "<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}<|im_start|>assistant\n")  # fmt: skip
    model = with_template(smollm2, tmp_path / "sometimes.gguf", tpl)
    st = cli_json("serve", "start", str(model), timeout=180)
    try:
        url = f"{st['base_url']}/chat/completions"

        def ask(text: str) -> httpx.Response:
            body = {"model": "x", "messages": [{"role": "user", "content": text}], "max_tokens": 4}
            return httpx.post(url, json=body, timeout=60)

        t0 = time.monotonic()
        looping = ask("please loop")
        assert looping.status_code == 500 and "rendering stopped" in looping.text
        assert time.monotonic() - t0 < 10
        assert ask("hi").status_code == 200, "the server goes on serving"
    finally:
        cli("serve", "stop")
