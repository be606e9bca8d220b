"""Any OpenAI-compatible endpoint: Ollama, Foundry Local, vLLM, llama-server, `edgeagent serve`.

Tools go out as `tools` with the caller's `tool_choice`. Servers differ in what they honour: some
return `tool_calls`, some leak the call into `content` (as JSON, in `<tool_call>` tags, or in Python
style), some reject `tool_choice` values they do not know. So content that opens like a call is held
back instead of streamed and parsed by the tolerant parser, and a 400 about `tool_choice` is retried
once without it.
"""

from __future__ import annotations

import json
import time
from typing import Any

from edgeagent_cli.core.agent.runtime import OnText, Reply
from edgeagent_cli.core.agent.toolcall import CALL_STARTS, ToolCall, parse_calls
from edgeagent_cli.core.errors import EdgeError
from edgeagent_cli.core.util.http import base_v1, bearer, model_id, status_error, unreachable

_WIRE_KEYS = {"role", "content", "tool_calls", "tool_call_id", "name"}


class EndpointRuntime:
    def __init__(
        self,
        url: str,
        api_key: str | None = None,
        model: str | None = None,
        *,
        max_tokens: int = 512,
        temperature: float = 0.0,
        timeout: float = 300.0,
    ) -> None:
        import httpx

        self.base = base_v1(url)
        self.api_key = api_key
        self.model = model or model_id(self.base, api_key)
        self.name = f"{self.model}@{self.base}"
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.client = httpx.Client(headers=bearer(api_key), timeout=httpx.Timeout(timeout, connect=5))

    def turn(
        self,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]],
        tool_choice: str = "auto",
        on_text: OnText | None = None,
    ) -> Reply:
        body: dict[str, Any] = {
            "model": self.model,
            "stream": True,
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "messages": [{k: v for k, v in m.items() if k in _WIRE_KEYS} for m in messages],
        }
        if tools:
            body["tools"] = tools
            body["tool_choice"] = _wire_choice(tool_choice, tools)
        t0 = time.perf_counter()
        if tools and tool_choice not in {"auto", "none"}:
            on_text = None  # a call is expected: prose from a server that ignored tool_choice is not the answer
        try:
            reply = self._stream(body, on_text, t0)
        except _ChoiceRejected:
            body.pop("tool_choice", None)
            reply = self._stream(body, on_text, t0)
        if tools and tool_choice not in {"auto", "none"} and not reply.calls:
            # tool_choice was silently ignored: ask again with the call's JSON schema as response_format
            body.pop("tool_choice", None)
            body["response_format"] = {"type": "json_object", "schema": call_schema(tools, tool_choice)}
            ignored = reply
            reply = self._stream(body, None, t0)
            reply.prompt_tokens += ignored.prompt_tokens
            reply.completion_tokens += ignored.completion_tokens
            reply.route = {"tool_choice_ignored": True}
        return reply

    def _stream(self, body: dict[str, Any], on_text: OnText | None, t0: float) -> Reply:
        import httpx

        text, held, finish = "", True, "stop"
        parts: dict[int, dict[str, Any]] = {}
        usage: dict[str, Any] = {}
        try:
            with self.client.stream("POST", f"{self.base}/chat/completions", json=body) as r:
                if r.status_code != 200:
                    detail = r.read().decode(errors="replace")[:300]
                    if r.status_code == 400 and "tool_choice" in detail and "tool_choice" in body:
                        raise _ChoiceRejected
                    raise status_error(r.status_code, self.base, detail)
                for line in r.iter_lines():
                    if not line.startswith("data:") or line[5:].strip() == "[DONE]":
                        continue
                    event = _event(line, self.base)
                    usage = event.get("usage") or usage
                    for choice in event.get("choices") or []:
                        finish = choice.get("finish_reason") or finish
                        delta = choice.get("delta") or {}
                        for tc in delta.get("tool_calls") or []:
                            slot = parts.setdefault(
                                tc.get("index", len(parts)), {"id": "", "name": "", "arguments": ""}
                            )
                            fn = tc.get("function") or {}
                            slot["id"] = tc.get("id") or slot["id"]
                            slot["name"] += fn.get("name") or ""
                            slot["arguments"] += fn.get("arguments") or ""
                        piece = delta.get("content") or ""
                        if not piece:
                            continue
                        text += piece
                        lead = text.lstrip()
                        if held and lead and not any(lead.startswith(s) or s.startswith(lead) for s in CALL_STARTS):
                            held = False
                            piece = text
                        if not held and on_text:
                            on_text(piece)
        except httpx.HTTPError as e:
            raise unreachable(self.base, e) from e
        calls, malformed = _calls(parts)
        if not calls and held and text.strip():
            calls = parse_calls(text)
            if not calls and on_text:
                on_text(text)  # it only looked like a call: it is the answer
        reply = Reply(
            "" if calls else text.strip(),
            calls,
            text,
            finish,
            int(usage.get("prompt_tokens") or 0),
            int(usage.get("completion_tokens") or 0),
            time.perf_counter() - t0,
            self.name,
        )
        reply.malformed = malformed
        return reply

    def close(self) -> None:
        self.client.close()


def _event(line: str, base: str) -> dict[str, Any]:
    """One server-sent event of a chat completion stream; anything else is the server's fault, said in one line."""
    try:
        event = json.loads(line[5:])
    except ValueError:
        event = None
    if not isinstance(event, dict):
        raise EdgeError(f"{base} sent a malformed stream: {line[:80]!r}", "is it an OpenAI-compatible server?")
    return event


class _ChoiceRejected(Exception):
    pass


def call_schema(tools: list[dict[str, Any]], choice: str) -> dict[str, Any]:
    """A JSON schema whose instances are calls: {"name": ..., "arguments": {...}}."""
    options = []
    for t in tools:
        fn = t.get("function", t)
        if choice in {"required", fn["name"]}:
            options.append(
                {
                    "type": "object",
                    "required": ["name", "arguments"],
                    "properties": {
                        "name": {"const": fn["name"]},
                        "arguments": fn.get("parameters") or {"type": "object"},
                    },
                }
            )
    return options[0] if len(options) == 1 else {"anyOf": options}


def _wire_choice(choice: str, tools: list[dict[str, Any]]) -> Any:
    if choice in {"auto", "none", "required"}:
        return choice
    return {"type": "function", "function": {"name": choice}}


def _calls(parts: dict[int, dict[str, Any]]) -> tuple[list[ToolCall], str | None]:
    calls, malformed = [], None
    for _, slot in sorted(parts.items()):
        try:
            args = json.loads(slot["arguments"] or "{}")
        except ValueError:
            malformed = f"{slot['name']}({slot['arguments']})"
            continue
        calls.append(ToolCall(slot["name"], args if isinstance(args, dict) else {}, slot["id"]))
    return calls, malformed
