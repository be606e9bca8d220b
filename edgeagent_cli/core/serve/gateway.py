"""The server `edgeagent serve start` runs: one OpenAI-compatible front for several models.

`python -m edgeagent_cli.core.serve.gateway CONFIG.json` (the manager writes the config; the API keys
come in the environment, never in a file or a command line).

- Plain generation is passed to the model's engine process (engines.py: llama-server, with parallel
  slots, by default), streamed through as it comes; the gateway times every token for the metrics.
- A request with `tools` (and `tool_choice` other than "none") goes through edgeagent's own tool path,
  the one `chat` uses in-process: the router, then the grammar-constrained, grounded arguments.
  The answer has OpenAI's shape: `tool_calls`, `finish_reason: "tool_calls"`, streamed or not.
- `response_format` (json_object, json_schema) is passed to the engine, which turns it into a grammar.
- Locked down: the Host header must name loopback or the configured host (DNS rebinding); the API key
  is compared in constant time on every route, /metrics included (or its own --metrics-key); no CORS
  headers unless the Origin is one of --cors-origin; bodies over the limit get 413; a prompt longer
  than the context gets 400 with the counts before any decoding; every request has a time limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import os
import re
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from edgeagent_cli.core.serve.pool import Busy, Model, Pool, TooBig, Unknown

ANSWER_ROOM = 16  # tokens a request needs left in the context for its answer to begin
INLINE_BYTES = 64 * 1024  # a request body this small is tokenized without a thread hop


def _error(status: int, message: str, kind: str = "invalid_request_error", **extra: Any) -> Any:
    from starlette.responses import JSONResponse

    return JSONResponse({"error": {"message": message, "type": kind, "code": status, **extra}}, status_code=status)


class Guard:
    """ASGI middleware: Host, API key, CORS, body size; before any route runs."""

    def __init__(self, app: Any, cfg: dict[str, Any], api_key: str | None, metrics_key: str | None) -> None:
        self.app = app
        host = str(cfg["host"])
        self.hosts = {"127.0.0.1", "localhost", "::1", "[::1]"} | ({host, f"[{host}]"} if host != "0.0.0.0" else set())
        self.hosts |= set(cfg.get("allowed_hosts") or [])
        self.origins = set(cfg.get("cors_origins") or [])
        self.key = api_key.encode() if api_key else None
        self.metrics_key = metrics_key.encode() if metrics_key else None
        self.max_body = int(cfg["max_body_bytes"])

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope["edgeagent.received"] = time.perf_counter()  # latencies count from here, as a client's would
        headers = dict(scope["headers"])
        host = headers.get(b"host", b"").decode("latin-1")
        name = host.rsplit(":", 1)[0] if not host.startswith("[") else host.split("]")[0] + "]"
        if name not in self.hosts:
            await _send(send, 403, f"Host {host!r} is not this server (DNS rebinding guard)", "permission_error")
            return
        origin = headers.get(b"origin", b"").decode("latin-1")
        cors = bool(origin) and origin in self.origins
        if scope["method"] == "OPTIONS":
            if not cors:
                await _send(send, 403, "cross-origin requests are not allowed from this origin", "permission_error")
                return
            allow = [(b"access-control-allow-origin", origin.encode()), (b"vary", b"Origin"),
                     (b"access-control-allow-methods", b"GET, POST, OPTIONS"),
                     (b"access-control-allow-headers", b"Authorization, Content-Type"),
                     (b"access-control-max-age", b"600")]  # fmt: skip
            await send({"type": "http.response.start", "status": 204, "headers": allow})
            await send({"type": "http.response.body", "body": b""})
            return
        if not self._authorised(scope["path"], headers.get(b"authorization", b"")):
            await _send(send, 401, "missing or wrong API key", "authentication_error")
            return
        length = headers.get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body):
            await _send(send, 413, f"the request body is over {self.max_body} bytes", "invalid_request_error")
            return
        seen = 0

        async def limited_receive() -> Any:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_body:
                raise _BodyTooLarge
            return message

        async def cors_send(message: Any) -> None:
            if cors and message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"access-control-allow-origin", origin.encode()),
                                      (b"vary", b"Origin")]  # fmt: skip
            await send(message)

        try:
            await self.app(scope, limited_receive, cors_send)
        except _BodyTooLarge:
            await _send(send, 413, f"the request body is over {self.max_body} bytes", "invalid_request_error")

    def _authorised(self, path: str, header: bytes) -> bool:
        keys = [k for k in (self.key, self.metrics_key if path == "/metrics" else None) if k]
        if not keys:
            return True
        given = header[7:] if header[:7].lower() == b"bearer " else b""
        ok = False
        for k in keys:  # every key is compared, in constant time each
            ok |= hmac.compare_digest(given, k)
        return ok


class _BodyTooLarge(Exception):
    pass


async def _send(send: Any, status: int, message: str, kind: str) -> None:
    body = json.dumps({"error": {"message": message, "type": kind, "code": status}}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class Gateway:
    def __init__(self, cfg: dict[str, Any]) -> None:
        from edgeagent_cli.core.serve.metrics import Metrics

        self.cfg = cfg
        self.pool = Pool(cfg)
        self.metrics = Metrics(self.pool.scrape, self.pool.rss)
        self.pool.metrics = self.metrics
        self.timeout = float(cfg["request_timeout"])
        self.context = int(cfg["options"]["context"])
        self._vocab: dict[str, Any] = {}
        self.state_file = Path(cfg["state_file"])

    # --- routes ---------------------------------------------------------------------------------------
    def app(self) -> Any:
        from starlette.applications import Starlette
        from starlette.routing import Route

        routes = [
            Route("/health", self.health, methods=["GET"]),
            Route("/v1/models", self.models, methods=["GET"]),
            Route("/v1/chat/completions", self.chat, methods=["POST"]),
            Route("/v1/completions", self.completions, methods=["POST"]),
            Route("/metrics", self.scrape, methods=["GET"]),
        ]
        return Starlette(routes=routes, lifespan=self._lifespan)

    @contextlib.asynccontextmanager
    async def _lifespan(self, app: Any) -> AsyncIterator[None]:
        task = asyncio.create_task(self._housekeeping())
        try:
            yield
        finally:
            task.cancel()
            await asyncio.to_thread(self.pool.close)
            self.state_file.unlink(missing_ok=True)

    async def _housekeeping(self) -> None:
        """Unload idle models; keep the state file `serve status` reads fresh."""
        while True:
            await asyncio.to_thread(self.pool.reap)
            await asyncio.to_thread(self._write_state)
            await asyncio.sleep(1.0)

    def _write_state(self) -> None:
        from edgeagent_cli.core.util.files import atomic_write_text

        doc = {"updated": time.time(), "budget_bytes": self.pool.budget, "budget_source": self.pool.budget_source,
               "engine": self.pool.engine, "models": [m.state() for m in self.pool.models.values()]}  # fmt: skip
        atomic_write_text(self.state_file, json.dumps(doc))

    async def health(self, request: Any) -> Any:
        from starlette.responses import JSONResponse

        return JSONResponse({"status": "ok", "engine": self.pool.engine})

    async def models(self, request: Any) -> Any:
        from starlette.responses import JSONResponse

        data = await asyncio.to_thread(lambda: [m.state() for m in self.pool.models.values()])
        return JSONResponse({"object": "list", "data": data, "budget_bytes": self.pool.budget,
                             "held_bytes": self.pool.held(), "engine": self.pool.engine})  # fmt: skip

    async def scrape(self, request: Any) -> Any:
        from prometheus_client import CONTENT_TYPE_LATEST
        from starlette.responses import Response

        body = await asyncio.to_thread(self.metrics.render)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    async def chat(self, request: Any) -> Any:
        return await self._generate(request, "/v1/chat/completions")

    async def completions(self, request: Any) -> Any:
        return await self._generate(request, "/v1/completions")

    # --- one request ------------------------------------------------------------------------------------
    async def _generate(self, request: Any, endpoint: str) -> Any:
        received = request.scope.get("edgeagent.received") or time.perf_counter()
        raw = await request.body()
        try:
            body = json.loads(raw)
        except ValueError:
            return self._count(None, endpoint, _error(400, "the body is not JSON"))
        if not isinstance(body, dict):
            return self._count(None, endpoint, _error(400, "the body must be a JSON object"))
        try:
            model = self.pool.get(body.get("model"))
        except Unknown as e:
            return self._count(None, endpoint, _error(404, str(e), "not_found_error"))
        too_long = await self._check_length(model, body, endpoint, len(raw))
        if too_long is not None:
            return self._count(model.name, endpoint, too_long)
        model.requests += 1
        model.last_used = time.time()
        tools = body.get("tools") if endpoint == "/v1/chat/completions" else None
        if tools and body.get("tool_choice") != "none":
            response = await self._tool_path(model, body, received)
        else:
            response = await self._proxy(model, endpoint, body, received)
        return self._count(model.name, endpoint, response)

    def _count(self, model: str | None, endpoint: str, response: Any) -> Any:
        self.metrics.requests.labels(model or "", endpoint, str(response.status_code)).inc()
        return response

    async def _check_length(self, model: Model, body: dict[str, Any], endpoint: str, size: int) -> Any:
        """400 with the counts when the prompt leaves no room in the context; 500 when the model's chat
        template breaks its budget on this conversation. A chat is rendered with the model's template
        here, within edgeagent's budget, before the engine renders it (llama-server's renderer has none)."""
        from edgeagent_cli.core.agent.runtime.template import TemplateError

        if endpoint == "/v1/chat/completions":
            messages = body.get("messages")
            if not isinstance(messages, list) or not messages or not all(isinstance(m, dict) for m in messages):
                return _error(400, "'messages' must be a non-empty list of objects")
        else:
            prompt = body.get("prompt")
            if not isinstance(prompt, str | list):
                return _error(400, "'prompt' must be a string or a list of strings")
        tokenizer = self._vocab.get(model.name)
        if tokenizer is None:
            tokenizer = self._vocab[model.name] = await asyncio.to_thread(_Tokenizer, model)
        try:
            # A thread costs a GIL switch interval (5 ms) under load: small requests are counted here, on
            # the event loop's thread, where the template's time budget is an interval timer.
            if size <= INLINE_BYTES:
                n = tokenizer.count(body, endpoint, self.context - ANSWER_ROOM)
            else:
                n = await asyncio.to_thread(tokenizer.count, body, endpoint, self.context - ANSWER_ROOM)
        except TemplateError as e:
            return _error(500, str(e), "server_error")
        if n + ANSWER_ROOM > self.context:
            return _error(400, f"the prompt is {n} tokens and the context holds {self.context}",
                          prompt_tokens=n, context_tokens=self.context)  # fmt: skip
        return None

    async def _slot(self, model: Model, slots: asyncio.Semaphore) -> float:
        """Wait for one of the model's slots; the seconds waited."""
        t = time.perf_counter()
        model.waiting += 1
        self.metrics.waiting.labels(model.name).inc()
        try:
            await slots.acquire()
        finally:
            model.waiting -= 1
            self.metrics.waiting.labels(model.name).dec()
        model.active += 1
        self.metrics.running.labels(model.name).inc()
        waited = time.perf_counter() - t
        self.metrics.queue.labels(model.name).observe(waited)
        return waited

    def _free(self, model: Model, slots: asyncio.Semaphore) -> None:
        model.active -= 1
        model.last_used = time.time()
        self.metrics.running.labels(model.name).dec()
        slots.release()

    async def _proxy(self, model: Model, endpoint: str, body: dict[str, Any], received: float) -> Any:
        from starlette.responses import Response

        from edgeagent_cli.core.serve.upstream import UpstreamError

        try:
            backend = await self.pool.backend(model)
        except (TooBig, Busy) as e:
            return _error(507, str(e), "insufficient_storage")
        except RuntimeError as e:
            return _error(503, str(e), "server_error")
        await self._slot(model, model.slots)
        body = {**body, "model": model.name}
        stream = bool(body.get("stream"))
        wants_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        if stream:
            body["stream_options"] = {**(body.get("stream_options") or {}), "include_usage": True}
        try:
            upstream = await backend.upstream.request("POST", endpoint, json.dumps(body).encode(), self.timeout)
        except (UpstreamError, asyncio.TimeoutError) as e:
            self._free(model, model.slots)
            return _error(502, f"the engine did not answer: {e}", "server_error")
        if upstream.status != 200 or not stream:
            try:
                raw = await asyncio.wait_for(upstream.read(), self.timeout)
            except (UpstreamError, asyncio.TimeoutError) as e:
                return _error(502, f"the engine's answer broke off: {e}", "server_error")
            finally:
                upstream.release()
                self._free(model, model.slots)
            if upstream.status == 200:
                self._usage(model.name, _json(raw).get("usage"))
                self.metrics.e2e.labels(model.name).observe(time.perf_counter() - received)
            return Response(raw, status_code=upstream.status, media_type="application/json")
        return _Relay(self, model, upstream, received, wants_usage)

    def _usage(self, model: str, usage: Any) -> None:
        if isinstance(usage, dict):
            self.metrics.prompt_tokens.labels(model).inc(int(usage.get("prompt_tokens") or 0))
            self.metrics.generation_tokens.labels(model).inc(int(usage.get("completion_tokens") or 0))

    async def _tool_path(self, model: Model, body: dict[str, Any], received: float) -> Any:
        from starlette.responses import JSONResponse, StreamingResponse

        from edgeagent_cli.core.agent.runtime.template import TemplateError
        from edgeagent_cli.core.errors import EdgeError

        try:
            runtime = await self.pool.agent(model)
        except (TooBig, Busy) as e:
            return _error(507, str(e), "insufficient_storage")
        tools = [t for t in body["tools"] if isinstance(t, dict)]
        choice = _choice(body.get("tool_choice"))
        messages = [m for m in body.get("messages") or [] if isinstance(m, dict)]
        await self._slot(model, model.agent_slot)
        try:

            def turn() -> Any:
                with model.agent_lock:
                    return runtime.turn(messages, tools, choice)

            reply = await asyncio.wait_for(asyncio.to_thread(turn), self.timeout)
        except asyncio.TimeoutError:
            return _error(504, f"the request ran past {self.timeout:.0f} s", "server_error")
        except (EdgeError, TemplateError) as e:
            return _error(400, str(e))
        finally:
            self._free(model, model.agent_slot)
        self.metrics.ttft.labels(model.name).observe(time.perf_counter() - received)
        self.metrics.e2e.labels(model.name).observe(time.perf_counter() - received)
        self._usage(model.name, {"prompt_tokens": reply.prompt_tokens, "completion_tokens": reply.completion_tokens})
        for c in reply.calls:
            self.metrics.tool_calls.labels(model.name, c.name, "called").inc()
        if reply.malformed is not None:
            self.metrics.tool_calls.labels(model.name, "", "malformed").inc()
        doc = _completion(model.name, reply)
        if not body.get("stream"):
            return JSONResponse(doc)
        wants_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        return StreamingResponse(_as_stream(doc, wants_usage), media_type="text/event-stream")


_CONTENT = re.compile(rb'"(?:content|text)":\s?"(?!")')
_NO_CHOICES = re.compile(rb'"choices":\s?\[\]')


class _Relay:
    """The engine's event stream handed on as it comes (ASGI), each content token timed for the metrics.

    Bytes pass through untouched; an event is only searched for content and, for the usage event,
    parsed. The usage event the gateway asked for is dropped when the client did not ask for it."""

    def __init__(self, gw: Gateway, model: Model, upstream: Any, received: float, wants_usage: bool) -> None:
        self.gw, self.model, self.upstream, self.received, self.wants_usage = gw, model, upstream, received, wants_usage
        self.status_code = 200

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        from edgeagent_cli.core.serve.upstream import UpstreamError

        gw, name = self.gw, self.model.name
        ttft, itl = gw.metrics.ttft.labels(name), gw.metrics.itl.labels(name)
        headers = [
            (b"content-type", b"text/event-stream"),
            (b"cache-control", b"no-cache"),
            (b"x-accel-buffering", b"no"),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        gone = asyncio.ensure_future(_disconnect(receive))
        deadline = self.received + gw.timeout
        last: float | None = None
        buf = b""
        try:
            async for piece in self.upstream.pieces():
                if gone.done():
                    self.upstream.reusable = False
                    break
                buf += piece
                out = []
                tokens = False
                while (i := buf.find(b"\n\n")) >= 0:
                    event, buf = buf[: i + 2], buf[i + 2 :]
                    if _CONTENT.search(event):
                        tokens = True
                    elif _NO_CHOICES.search(event):
                        gw._usage(name, _json(event[event.find(b"{") :]).get("usage"))
                        if not self.wants_usage:
                            continue
                    out.append(event)
                if out:
                    await send({"type": "http.response.body", "body": b"".join(out), "more_body": True})
                if tokens:  # timed once handed to the client's connection
                    now = time.perf_counter()
                    if last is None:
                        ttft.observe(now - self.received)
                    else:
                        itl.observe(now - last)
                    last = now
                if time.perf_counter() > deadline:
                    self.upstream.reusable = False
                    err = {"error": {"message": f"the request ran past {gw.timeout:.0f} s", "code": 504}}
                    await send({"type": "http.response.body", "body": f"data: {json.dumps(err)}\n\n".encode(),
                                "more_body": True})  # fmt: skip
                    break
        except UpstreamError as e:
            err = {"error": {"message": str(e), "code": 502}}
            await send(
                {"type": "http.response.body", "body": f"data: {json.dumps(err)}\n\n".encode(), "more_body": True}
            )
        finally:
            gone.cancel()
            self.upstream.release()
            gw._free(self.model, self.model.slots)
            gw.metrics.e2e.labels(name).observe(time.perf_counter() - self.received)
        with contextlib.suppress(Exception):
            await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _disconnect(receive: Any) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


class _Tokenizer:
    """The model's vocabulary (llama.cpp, vocab only: no weights) and its chat template, budgeted."""

    def __init__(self, model: Model) -> None:
        import llama_cpp

        from edgeagent_cli.core.agent.runtime.template import ChatTemplate
        from edgeagent_cli.core.util.llama_logs import quiet_logs

        quiet_logs()
        self.vocab = llama_cpp.Llama(str(model.path), vocab_only=True, verbose=False)
        source = self.vocab.metadata.get("tokenizer.chat_template") or ""
        piece = self.vocab.detokenize
        eos = piece([self.vocab.token_eos()], special=True).decode(errors="ignore")
        bos_id = self.vocab.token_bos()
        bos = piece([bos_id], special=True).decode(errors="ignore") if bos_id >= 0 else ""
        self.template = ChatTemplate(source, f"the chat template of {model.name}", eos, bos) if source else None

    def count(self, body: dict[str, Any], endpoint: str, room: int) -> int:
        """The prompt's tokens. A prompt that fits `room` by its byte count is not tokenized: a token
        covers at least one byte of text (SentencePiece's dummy prefix may add one token more)."""
        if endpoint == "/v1/chat/completions":
            # OpenAI allows content null (a turn of tool calls) or a list of parts; templates expect text
            messages = [{**m, "content": _text(m.get("content"))} for m in body["messages"]]
            if self.template is not None:
                tools = body.get("tools") if isinstance(body.get("tools"), list) else None
                text = self.template.render(messages, tools)
            else:
                text = "\n".join(f"{m.get('role')}: {_text(m.get('content'))}" for m in messages)
        else:
            prompt = body["prompt"]
            text = prompt if isinstance(prompt, str) else "\n".join(map(str, prompt))
        raw = text.encode(errors="replace")
        if len(raw) + 1 <= room:
            return len(raw) + 1
        return len(self.vocab.tokenize(raw, add_bos=False, special=True))


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(str(p.get("text") or "") for p in content if isinstance(p, dict))
    return ""


def _json(raw: bytes) -> dict[str, Any]:
    try:
        doc = json.loads(raw)
    except ValueError:
        return {}
    return doc if isinstance(doc, dict) else {}


def _choice(value: Any) -> str:
    """OpenAI's tool_choice -> the runtime's: auto, none, required, or a tool's name."""
    if isinstance(value, dict):
        return str((value.get("function") or {}).get("name") or "required")
    return value if value in ("auto", "none", "required") else "auto"


def _completion(model: str, reply: Any) -> dict[str, Any]:
    calls = [
        {"id": f"call_{uuid.uuid4().hex[:24]}", "type": "function",
         "function": {"name": c.name, "arguments": json.dumps(c.arguments)}}
        for c in reply.calls
    ]  # fmt: skip
    message: dict[str, Any] = {"role": "assistant", "content": None if calls else reply.content}
    if calls:
        message["tool_calls"] = calls
    finish = "tool_calls" if calls else ("length" if reply.finish == "length" else "stop")
    usage = {"prompt_tokens": reply.prompt_tokens, "completion_tokens": reply.completion_tokens,
             "total_tokens": reply.prompt_tokens + reply.completion_tokens}  # fmt: skip
    return {"id": f"chatcmpl-{uuid.uuid4().hex[:24]}", "object": "chat.completion", "created": int(time.time()),
            "model": model, "choices": [{"index": 0, "message": message, "finish_reason": finish}], "usage": usage}  # fmt: skip


async def _as_stream(doc: dict[str, Any], wants_usage: bool) -> AsyncIterator[bytes]:
    """A finished completion as OpenAI's chunks: role, content or each call (whole arguments), finish."""
    base = {"id": doc["id"], "object": "chat.completion.chunk", "created": doc["created"], "model": doc["model"]}
    choice = doc["choices"][0]
    message = choice["message"]

    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        event = {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
        return f"data: {json.dumps(event)}\n\n".encode()

    yield chunk({"role": "assistant", "content": ""})
    if message.get("content"):
        yield chunk({"content": message["content"]})
    for i, call in enumerate(message.get("tool_calls") or []):
        yield chunk({"tool_calls": [{"index": i, **call}]})
    yield chunk({}, choice["finish_reason"])
    if wants_usage:
        yield f"data: {json.dumps({**base, 'choices': [], 'usage': doc['usage']})}\n\n".encode()
    yield b"data: [DONE]\n\n"


def main() -> None:
    import uvicorn

    cfg = json.loads(Path(sys.argv[1]).read_text())
    gateway = Gateway(cfg)
    app = Guard(gateway.app(), cfg, os.environ.pop("EDGEAGENT_SERVE_KEY", None) or None,
                os.environ.pop("EDGEAGENT_METRICS_KEY", None) or None)  # fmt: skip
    bind = "0.0.0.0" if cfg["host"] in ("0.0.0.0", "::") else cfg["host"]
    uvicorn.run(app, host=bind, port=int(cfg["port"]), log_level="warning", access_log=False,
                timeout_keep_alive=30, limit_concurrency=int(cfg.get("max_connections", 256)))  # fmt: skip


if __name__ == "__main__":
    main()
