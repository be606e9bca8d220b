"""An OpenAI-compatible chat server on 127.0.0.1 that behaves as the servers users meet do.

Modes (what real servers do with tools): "native" streams `tool_calls` deltas in pieces (vLLM,
Ollama); "leak" writes the call into `content` inside <tool_call> tags (llama-server without
--jinja, small models behind any server); "ignore" disregards tool_choice and answers in prose
unless `response_format` carries a schema (llama-cpp-python's server with a plain template).
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class OpenAIStub:
    def __init__(self, mode: str, call: dict[str, Any]) -> None:
        self.mode = mode
        self.call = call
        self.requests: list[dict[str, Any]] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a: Any) -> None:
                pass

            def do_GET(self) -> None:
                self._json({"object": "list", "data": [{"id": "stub-model", "object": "model"}]})

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                stub.requests.append(body)
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                for delta in stub.deltas(body):
                    chunk = {"choices": [{"index": 0, "delta": delta, "finish_reason": None}]}
                    self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                usage = {"choices": [], "usage": {"prompt_tokens": 11, "completion_tokens": 7}}
                self.wfile.write(f"data: {json.dumps(usage)}\n\ndata: [DONE]\n\n".encode())

            def _json(self, doc: dict[str, Any]) -> None:
                data = json.dumps(doc).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def deltas(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        if body["messages"][-1]["role"] == "tool":
            return [{"content": "The answer is "}, {"content": body["messages"][-1]["content"]}]
        args = json.dumps(self.call["arguments"])
        if self.mode == "native":
            half = len(args) // 2
            return [
                {
                    "tool_calls": [
                        {"index": 0, "id": "c1", "function": {"name": self.call["name"], "arguments": args[:half]}}
                    ]
                },
                {"tool_calls": [{"index": 0, "function": {"arguments": args[half:]}}]},
            ]
        if self.mode == "leak":
            text = f'<tool_call>\n{{"name": "{self.call["name"]}", "arguments": {args}}}\n</tool_call>'
            return [{"content": text[:9]}, {"content": text[9:]}]
        if "response_format" in body:
            return [{"content": json.dumps(self.call)}]
        return [{"content": "I think "}, {"content": "it is about 400."}]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
