"""`edgeagent serve`'s gateway with real clients: locked down, several models in one budget, metrics,
tool calls through our tool path for the official `openai` client and a Microsoft Agent Framework agent."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import cli, cli_json, one_line_error

pytestmark = pytest.mark.slow

KEY = "s3cret-key"
CALCULATOR = {
    "type": "function",
    "function": {
        "name": "calculator",
        "description": "Evaluate an arithmetic expression and return the number",
        "parameters": {
            "type": "object",
            "properties": {"expression": {"type": "string", "description": "e.g. 17*23"}},
            "required": ["expression"],
        },
    },
}


@pytest.fixture
def smol(smollm2: Path) -> str:
    return str(cli_json("models", "import", str(smollm2), "--name", "smol")["model"]["name"])


def _serve(*args: str) -> dict[str, Any]:
    return cli_json("serve", "start", *args, timeout=180)


@pytest.fixture
def locked(smol: str) -> Iterator[dict[str, Any]]:
    st = _serve(smol, "--api-key", KEY, "--metrics-key", "metrics-only", "--cors-origin", "http://ok.example",
                "--allow-host", "edge.local")  # fmt: skip
    try:
        yield st
    finally:
        cli("serve", "stop")


def _auth(key: str = KEY) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_locked_down_host_key_cors_body_and_prompt_limits(locked: dict[str, Any]) -> None:
    base = locked["base_url"]
    root = base.removesuffix("/v1")
    chat = {"model": "smol", "messages": [{"role": "user", "content": "Say hi"}], "max_tokens": 4}
    # DNS rebinding: a page on evil.example resolving to 127.0.0.1 names its own host
    r = httpx.get(f"{base}/models", headers={**_auth(), "Host": "evil.example"})
    assert r.status_code == 403 and "Host" in r.json()["error"]["message"]
    assert httpx.get(f"{base}/models", headers={**_auth(), "Host": "edge.local:8080"}).status_code == 200
    # a wrong key gets 401 on every route, /metrics and /health included
    for method, path in (("GET", "/v1/models"), ("POST", "/v1/chat/completions"), ("POST", "/v1/completions"),
                         ("GET", "/metrics"), ("GET", "/health")):  # fmt: skip
        for headers in ({}, _auth("wrong"), {"Authorization": KEY}):
            assert httpx.request(method, root + path, headers=headers, json=chat).status_code == 401, (path, headers)
    assert httpx.get(f"{base}/models", headers=_auth()).status_code == 200
    # the metrics key reads /metrics and nothing else
    assert httpx.get(f"{root}/metrics", headers=_auth("metrics-only")).status_code == 200
    assert httpx.get(f"{base}/models", headers=_auth("metrics-only")).status_code == 401
    # CORS: a preflight from another origin gets no Access-Control-Allow-Origin; the configured one does
    pre = {"Origin": "http://other.example", "Access-Control-Request-Method": "POST"}
    r = httpx.options(f"{base}/chat/completions", headers=pre)
    assert "access-control-allow-origin" not in r.headers and r.status_code == 403
    r = httpx.options(f"{base}/chat/completions", headers={**pre, "Origin": "http://ok.example"})
    assert r.status_code == 204 and r.headers["access-control-allow-origin"] == "http://ok.example"
    r = httpx.get(f"{base}/models", headers={**_auth(), "Origin": "http://other.example"})
    assert r.status_code == 200 and "access-control-allow-origin" not in r.headers
    # a 200 KB prompt: 400 with the token counts, before any decoding, in under a second
    big = {**chat, "messages": [{"role": "user", "content": "lorem ipsum dolor " * 11_400}]}
    httpx.post(f"{base}/chat/completions", headers=_auth(), json=chat, timeout=60)  # the vocabulary is loaded
    t0 = time.monotonic()
    r = httpx.post(f"{base}/chat/completions", headers=_auth(), json=big, timeout=60)
    took = time.monotonic() - t0
    assert r.status_code == 400 and r.json()["error"]["prompt_tokens"] > 4096, r.text
    assert took < 1.0, took
    # a body over the limit (8 MiB by default): 413
    r = httpx.post(f"{base}/chat/completions", headers=_auth(), content=b"x" * (9 * 2**20), timeout=60)
    assert r.status_code == 413
    r = httpx.post(f"{base}/chat/completions", headers=_auth(), content=b"{not json", timeout=60)
    assert r.status_code == 400


def test_openai_client_plain_stream_tools_and_json_schema(smol: str) -> None:
    from openai import OpenAI

    st = _serve(smol)
    try:
        client = OpenAI(base_url=st["base_url"], api_key="unused")
        (model,) = client.models.list().data
        assert model.id == "smol"
        # tools go through edgeagent's tool path: OpenAI's shape, streamed or not
        ask = [{"role": "user", "content": "What is 17*23? Use the calculator."}]
        reply = client.chat.completions.create(model="smol", messages=ask, tools=[CALCULATOR], tool_choice="required")
        choice = reply.choices[0]
        assert choice.finish_reason == "tool_calls"
        (call,) = choice.message.tool_calls or []
        assert call.function.name == "calculator" and "17" in json.loads(call.function.arguments)["expression"]
        stream = client.chat.completions.create(
            model="smol", messages=ask, tools=[CALCULATOR], tool_choice="required", stream=True
        )
        chunks = list(stream)
        deltas = [d for c in chunks for d in (c.choices[0].delta.tool_calls or [])] if chunks else []
        assert deltas and deltas[0].function.name == "calculator"
        assert chunks[-1].choices[0].finish_reason == "tool_calls"
        # the tool result comes back: the answer uses it
        follow = [*ask, {"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},
                  {"role": "tool", "tool_call_id": call.id, "content": "391"}]  # fmt: skip
        answer = client.chat.completions.create(model="smol", messages=follow, tools=[CALCULATOR])
        assert answer.choices[0].finish_reason == "stop" and "391" in (answer.choices[0].message.content or "")
        # response_format with a JSON schema is honoured by the engine's grammar
        schema = {"type": "object", "properties": {"city": {"type": "string"}, "population": {"type": "integer"}},
                  "required": ["city", "population"]}  # fmt: skip
        r = client.chat.completions.create(
            model="smol",
            messages=[{"role": "user", "content": "Give the largest city of France and its population as JSON."}],
            response_format={"type": "json_schema", "json_schema": {"name": "city", "schema": schema}},
            max_tokens=60,
        )
        doc = json.loads(r.choices[0].message.content or "")
        assert isinstance(doc["city"], str) and isinstance(doc["population"], int)
        # /metrics: tool calls by tool, token counters and latency histograms by model, llama-server's own
        text = httpx.get(st["base_url"].removesuffix("/v1") + "/metrics").text
        assert 'edgeagent:tool_calls_total{model="smol",outcome="called",tool="calculator"} 2.0' in text
        assert 'edgeagent:time_to_first_token_seconds_count{model="smol"}' in text
        assert 'edgeagent:requests_total{endpoint="/v1/chat/completions",model="smol",status="200"} 4.0' in text
        assert "edgeagent:model_resident_bytes" in text and "edgeagent:model_loads_total" in text
        if st["engine"] == "llama-server":
            assert 'llamacpp:prompt_tokens_total{model="smol"}' in text
    finally:
        cli("serve", "stop")


def test_agent_framework_agent_calls_a_python_tool_and_answers(smol: str) -> None:
    import asyncio

    from agent_framework import Agent
    from agent_framework.openai import OpenAIChatCompletionClient

    st = _serve(smol)
    seen: list[str] = []

    def multiply(a: int, b: int) -> int:
        """Multiply two whole numbers."""
        seen.append(f"{a}*{b}")
        return a * b

    try:
        client = OpenAIChatCompletionClient(model="smol", base_url=st["base_url"], api_key="unused")
        agent = Agent(client, "You are a helpful assistant.", tools=[multiply])
        result = asyncio.run(agent.run("Multiply 17 and 23."))
        assert seen == ["17*23"], seen
        assert "391" in result.text
    finally:
        cli("serve", "stop")


def _state(base: str) -> dict[str, str]:
    return {m["id"]: m["state"] for m in httpx.get(f"{base}/models").json()["data"]}


def test_models_share_a_budget_idle_ones_make_room_and_a_busy_budget_is_507(smollm2: Path) -> None:
    for name in ("a", "b", "c"):
        cli_json("models", "import", str(smollm2), "--name", name)
    alone = _serve("a", "--ctx", "2048")
    estimate = httpx.get(f"{alone['base_url']}/models").json()["data"][0]["estimate_bytes"]
    cli("serve", "stop")
    budget = str(int(estimate * 2.5))  # two engines fit, three do not
    st = _serve("a", "b", "c", "--max-memory", budget, "--ctx", "2048")
    try:
        base = st["base_url"]
        say = {"messages": [{"role": "user", "content": "Say hi"}], "max_tokens": 4}
        for name in ("a", "b"):
            assert httpx.post(f"{base}/chat/completions", json={**say, "model": name}, timeout=60).status_code == 200
        assert _state(base) == {"a": "loaded", "b": "loaded", "c": "unloaded"}
        # c needs room: a, the least recently used idle model, is unloaded
        assert httpx.post(f"{base}/chat/completions", json={**say, "model": "c"}, timeout=60).status_code == 200
        assert _state(base) == {"a": "unloaded", "b": "loaded", "c": "loaded"}
        time.sleep(1.5)  # the state file is rewritten every second
        listing = cli_json("serve", "status")["servers"][0]
        served = {m["id"]: m for m in listing["served"]}
        assert served["c"]["state"] == "loaded" and served["c"]["resident_bytes"] > 50 * 2**20
        assert served["a"]["requests"] == 1 and served["a"]["state"] == "unloaded"
        # b and c busy at once: a has no room and gets 507 naming itself and the budget
        long = {"messages": [{"role": "user", "content": "Tell me a long story about a dragon."}],
                "max_tokens": 400, "stream": True}  # fmt: skip

        def stream(name: str) -> None:
            with httpx.stream("POST", f"{base}/chat/completions", json={**long, "model": name}, timeout=120) as r:
                for _ in r.iter_lines():
                    pass

        busy = [threading.Thread(target=stream, args=(n,)) for n in ("b", "c")]
        for t in busy:
            t.start()
        time.sleep(1.0)
        r = httpx.post(f"{base}/chat/completions", json={**say, "model": "a"}, timeout=60)
        for t in busy:
            t.join()
        assert r.status_code == 507 and "model a" in r.json()["error"]["message"] and "budget" in r.text
        r = httpx.post(f"{base}/chat/completions", json={**say, "model": "nope"}, timeout=60)
        assert r.status_code == 404
    finally:
        cli("serve", "stop")


def test_a_model_that_cannot_fit_alone_is_refused_at_start_with_exit_4(smol: str) -> None:
    done = cli("serve", "start", smol, "--max-memory", "100MiB")
    assert done.returncode == 4
    assert "smol needs" in one_line_error(done) and "100 MiB" in done.stderr
    assert cli_json("serve", "status")["servers"] == []


def test_an_idle_model_is_unloaded_after_the_ttl(smol: str) -> None:
    st = _serve(smol, "--idle-ttl", "1")
    try:
        base = st["base_url"]
        say = {"model": "smol", "messages": [{"role": "user", "content": "Say hi"}], "max_tokens": 4}
        assert httpx.post(f"{base}/chat/completions", json=say, timeout=60).status_code == 200
        assert _state(base) == {"smol": "loaded"}
        deadline = time.time() + 10
        while _state(base) != {"smol": "unloaded"} and time.time() < deadline:
            time.sleep(0.5)
        assert _state(base) == {"smol": "unloaded"}
        assert httpx.post(f"{base}/chat/completions", json=say, timeout=60).status_code == 200, "and loads again"
    finally:
        cli("serve", "stop")
