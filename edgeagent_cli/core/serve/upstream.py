"""HTTP/1.1 from the gateway to one engine process on loopback, on asyncio streams.

The gateway relays every token of every stream; on a 2-core machine its CPU comes out of the engine's
decode. httpx took about 0.45 ms of CPU a token here (h11 parsing, line decoding, three layers of
iterators); this reads the engine's chunked response as it comes and hands its bytes on, parsing
nothing per token. Connections are kept alive and reused; one the engine has closed meanwhile
(llama-server closes after 100 requests or 5 idle seconds) is replaced and the request sent again,
which is safe because such a connection never carried the request.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

KEEP_IDLE = 4.0  # seconds a kept-alive connection is reused for; llama-server closes one idle for 5


class UpstreamError(Exception):
    pass


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    owner: Upstream
    done: bool = False
    reusable: bool = field(default=True)

    async def read(self) -> bytes:
        """The whole body (Content-Length or chunked)."""
        parts = [piece async for piece in self.pieces()]
        return b"".join(parts)

    async def pieces(self) -> AsyncIterator[bytes]:
        """The body as the engine wrote it: one chunk at a time."""
        try:
            if self.headers.get("transfer-encoding", "").lower() == "chunked":
                while True:
                    line = await self.reader.readline()
                    size = int(line.split(b";", 1)[0].strip() or b"0", 16)
                    if size == 0:
                        await self.reader.readline()  # the blank line after the last chunk (no trailers here)
                        break
                    data = await self.reader.readexactly(size + 2)
                    yield data[:-2]
            elif "content-length" in self.headers:
                yield await self.reader.readexactly(int(self.headers["content-length"]))
            else:
                self.reusable = False
                yield await self.reader.read()
            self.done = True
        except (asyncio.IncompleteReadError, ConnectionError, ValueError) as e:
            self.reusable = False
            raise UpstreamError(f"the engine's response broke off: {type(e).__name__}") from e

    def release(self) -> None:
        """Back to the pool when the body was read to its end, else closed."""
        if self.done and self.reusable and self.headers.get("connection", "").lower() != "close":
            self.owner.idle.append((self.reader, self.writer, time.monotonic()))
        else:
            self.writer.close()


class Upstream:
    def __init__(self, port: int, key: str) -> None:
        self.port = port
        self.key = key
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter, float]] = []
        self.loop: asyncio.AbstractEventLoop | None = None

    async def request(self, method: str, path: str, body: bytes = b"", timeout: float = 600.0) -> Response:
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\nAuthorization: Bearer {self.key}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode()
        self.loop = asyncio.get_running_loop()
        for attempt in range(2):
            kept = self._kept() if attempt == 0 else None
            reused = kept is not None
            reader, writer = kept or await asyncio.open_connection("127.0.0.1", self.port)
            try:
                writer.write(head + body)
                await writer.drain()
                status_line = await asyncio.wait_for(reader.readline(), timeout)
                if not status_line:
                    raise ConnectionResetError("closed before answering")
                raw = await reader.readuntil(b"\r\n\r\n")
            except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as e:
                writer.close()
                if reused and attempt == 0:
                    continue  # the engine had closed this kept-alive connection: a fresh one
                raise UpstreamError(f"the engine did not answer: {type(e).__name__}") from e
            except BaseException:
                writer.close()
                raise
            headers = {}
            for line in raw.decode("latin-1").split("\r\n"):
                name, sep, value = line.partition(":")
                if sep:
                    headers[name.strip().lower()] = value.strip()
            return Response(int(status_line.split()[1]), headers, reader, writer, self)
        raise UpstreamError("the engine did not answer")

    def _kept(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        """A kept-alive connection the engine has not timed out (llama-server: after 5 idle seconds)."""
        now = time.monotonic()
        while self.idle:
            reader, writer, since = self.idle.pop()
            if now - since < KEEP_IDLE and not reader.at_eof():
                return reader, writer
            writer.close()
        return None

    def close(self) -> None:
        """Close the kept-alive connections (from any thread: they belong to the event loop's)."""
        while self.idle:
            _, writer, _ = self.idle.pop()
            with contextlib.suppress(Exception):
                if self.loop is not None and self.loop.is_running():
                    self.loop.call_soon_threadsafe(writer.close)
                else:
                    writer.close()
