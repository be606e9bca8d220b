"""A Hugging Face Hub stand-in on 127.0.0.1 for the real `huggingface_hub` client.

It answers the routes the client uses: model info with `siblings` and LFS sha256/size
(`/api/models/<repo>[/revision/<rev>]?blobs=true`) and `/<repo>/resolve/<rev>/<file>` (HEAD and GET,
with ETag, X-Repo-Commit, Content-Length, Accept-Ranges and Range). Faults are injected per test:
connections cut at given offsets, a flipped byte, a status for a path, a slow server.
"""

from __future__ import annotations

import hashlib
import json
import re
import struct
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

COMMIT = "0123456789abcdef0123456789abcdef01234567"


@dataclass
class RemoteFile:
    """Content is a real file, bytes, or a header-only GGUF standing in for a file of `size` bytes
    (for multi-GB variants whose header is all a dry run reads)."""

    path: Path | None = None
    data: bytes | None = None
    size: int | None = None
    sha256: str | None = None

    def total(self) -> int:
        if self.size is not None:
            return self.size
        return self.path.stat().st_size if self.path else len(self.data or b"")

    def read(self, start: int, end: int) -> bytes:
        if self.path:
            with self.path.open("rb") as f:
                f.seek(start)
                return f.read(end - start)
        data = self.data or b""
        chunk = data[start:end]
        return chunk + b"\0" * max(0, (end - start) - len(chunk))

    def digest(self) -> str:
        if self.sha256:
            return self.sha256
        h = hashlib.sha256()
        if self.path:
            with self.path.open("rb") as f:
                while b := f.read(1 << 20):
                    h.update(b)
        else:
            h.update(self.data or b"")
        self.sha256 = h.hexdigest()
        return self.sha256


@dataclass
class Faults:
    cut_at: list[int] = field(default_factory=list)  # close the connection after this body offset, once each
    flip_byte_at: int | None = None
    status: dict[str, int] = field(default_factory=dict)  # path substring -> status
    delay_per_chunk: float = 0.0
    stall_after: int | None = None  # stop sending (without closing) once a body reaches this offset


class HubServer:
    def __init__(self) -> None:
        self.repos: dict[str, dict[str, RemoteFile]] = {}
        self.gated: set[str] = set()
        self.faults = Faults()
        self.bytes_served = 0
        self.requests: list[str] = []
        self.lock = threading.Lock()
        handler = self._handler()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> HubServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def add(self, repo: str, name: str, remote: RemoteFile) -> None:
        self.repos.setdefault(repo, {})[name] = remote

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        hub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _status_fault(self) -> bool:
                for needle, status in hub.faults.status.items():
                    if needle in self.path:
                        body = json.dumps({"error": f"status {status}"}).encode()
                        self.send_response(status)
                        if status == 401:
                            self.send_header("X-Error-Message", "Invalid username or password.")
                        self.send_header("Content-Type", "application/json")
                        self.send_header("Content-Length", str(len(body)))
                        self.end_headers()
                        self.wfile.write(body)
                        return True
                return False

            def _not_found(self, code: str) -> None:
                body = json.dumps({"error": code}).encode()
                self.send_response(404)
                self.send_header("X-Error-Code", code)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_HEAD(self) -> None:
                self._serve(head=True)

            def do_GET(self) -> None:
                self._serve(head=False)

            def _serve(self, head: bool) -> None:
                hub.requests.append(f"{self.command} {self.path}")
                if self._status_fault():
                    return
                path = self.path.split("?", 1)[0]
                m = re.fullmatch(r"/api/models/([^/]+/[^/]+)(?:/revision/[^/]+)?", path)
                if m:
                    return self._info(m.group(1))
                m = re.fullmatch(r"/([^/]+/[^/]+)/resolve/([^/]+)/(.+)", path)
                if m:
                    return self._file(m.group(1), m.group(3), head)
                self._not_found("RepoNotFound")

            def _info(self, repo: str) -> None:
                if repo not in hub.repos:
                    return self._not_found("RepoNotFound")
                if repo in hub.gated:
                    body = b'{"error":"gated"}'
                    self.send_response(401)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                siblings = [
                    {
                        "rfilename": n,
                        "size": f.total(),
                        "blobId": f.digest()[:40],
                        "lfs": {"sha256": f.digest(), "size": f.total(), "pointerSize": 134},
                    }
                    for n, f in sorted(hub.repos[repo].items())
                ]
                doc = {
                    "id": repo,
                    "modelId": repo,
                    "sha": COMMIT,
                    "private": False,
                    "gated": False,
                    "siblings": siblings,
                    "tags": ["gguf"],
                }
                body = json.dumps(doc).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _file(self, repo: str, name: str, head: bool) -> None:
                remote = hub.repos.get(repo, {}).get(name)
                if remote is None:
                    return self._not_found("EntryNotFound" if repo in hub.repos else "RepoNotFound")
                total = remote.total()
                start, end = 0, total
                rng = self.headers.get("Range")
                m = re.fullmatch(r"bytes=(\d+)-(\d*)", rng or "")
                self.send_response(206 if m else 200)
                if m:
                    start = int(m.group(1))
                    end = min(total, int(m.group(2)) + 1) if m.group(2) else total
                    self.send_header("Content-Range", f"bytes {start}-{end - 1}/{total}")
                self.send_header("Content-Length", str(end - start))
                self.send_header("Accept-Ranges", "bytes")
                self.send_header("ETag", f'"{remote.digest()}"')
                self.send_header("X-Repo-Commit", COMMIT)
                self.send_header("Content-Type", "application/octet-stream")
                self.end_headers()
                if head:
                    return
                pos = start
                while pos < end:
                    step = min(256 * 1024, end - pos)
                    stall = hub.faults.stall_after
                    if stall is not None and pos >= stall:
                        time.sleep(600)  # a stalled server: the connection stays open, nothing comes
                        return
                    cut = next((c for c in sorted(hub.faults.cut_at) if pos <= c < pos + step), None)
                    if cut is not None:
                        step = cut - pos
                    chunk = bytearray(remote.read(pos, pos + step))
                    flip = hub.faults.flip_byte_at
                    if flip is not None and pos <= flip < pos + step:
                        chunk[flip - pos] ^= 0xFF
                    try:
                        self.wfile.write(chunk)
                        self.wfile.flush()
                    except (BrokenPipeError, ConnectionResetError):
                        return
                    with hub.lock:
                        hub.bytes_served += len(chunk)
                    pos += step
                    if cut is not None:
                        with hub.lock:
                            hub.faults.cut_at.remove(cut)
                        self.close_connection = True
                        return
                    if hub.faults.delay_per_chunk:
                        time.sleep(hub.faults.delay_per_chunk)

        return Handler


def gguf_header(arch: str, numbers: dict[str, int], vocab: int, name: str, file_type: int) -> bytes:
    """A header-only GGUF (v3) with an architecture's numbers and a vocabulary of `vocab` tokens."""

    def s(text: str) -> bytes:
        raw = text.encode()
        return struct.pack("<Q", len(raw)) + raw

    kv = [
        s("general.architecture") + struct.pack("<I", 8) + s(arch),
        s("general.name") + struct.pack("<I", 8) + s(name),
        s("general.file_type") + struct.pack("<II", 4, file_type),
    ]
    for key, value in numbers.items():
        kv.append(s(f"{arch}.{key}") + struct.pack("<II", 4, value))
    tokens = b"".join(s(f"tok{i}") for i in range(vocab))
    kv.append(s("tokenizer.ggml.tokens") + struct.pack("<IIQ", 9, 8, vocab) + tokens)
    return b"GGUF" + struct.pack("<IQQ", 3, 0, len(kv)) + b"".join(kv)
