"""Hugging Face as a model source, through the real `huggingface_hub` client.

Honours HF_ENDPOINT, HF_TOKEN and HF_HUB_OFFLINE. Lists a repo's GGUF files with sizes and LFS sha256,
reads a remote GGUF header with HTTP Range requests (the first few MB, never the whole file), and
downloads with resume; sha256 is checked here, since huggingface_hub checks only the size.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edgeagent_cli.core.errors import EdgeError, ExitCode
from edgeagent_cli.core.models import gguf
from edgeagent_cli.core.util.http import transport_errors

READ_TIMEOUT_S = 10.0  # a server that sends nothing for this long has stalled
STALL_LIMIT_S = 30.0  # no byte for this long, across retries: give up (a stalled pull fails in under a minute)
HEADER_ATTEMPTS = 4
SERVER_ERROR_ATTEMPTS = 3
CHUNK = 1 << 20
Progress = Callable[[int, int | None], None]  # (bytes in the partial file, total size) as a download grows
LOGIN_HINT = "this repo is gated or private: accept its terms on huggingface.co, then `hf auth login` or set HF_TOKEN"


def offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").lower() in {"1", "true", "yes", "on"}


def _endpoint() -> str:
    return os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")


def map_error(exc: BaseException, repo: str, what: str = "") -> EdgeError | None:
    """huggingface_hub / httpx exceptions -> a message a user can act on, with the contract's exit code."""
    from huggingface_hub import errors as hf_errors

    if isinstance(exc, hf_errors.GatedRepoError):
        return EdgeError(f"{repo} is gated: access denied", LOGIN_HINT, ExitCode.FAILURE)
    if isinstance(exc, hf_errors.RepositoryNotFoundError):
        status = getattr(getattr(exc, "response", None), "status_code", None)
        if status == 401:  # the Hub answers 401 both for a missing repo and a private/gated one
            who = "your token cannot read it" if os.environ.get("HF_TOKEN") else "you are not logged in"
            return EdgeError(f"{repo}: not found, or private/gated and {who}", LOGIN_HINT, ExitCode.NOT_FOUND)
        return EdgeError(f"no repo {repo} on {_endpoint()}", "check the name", ExitCode.NOT_FOUND)
    if isinstance(exc, hf_errors.RevisionNotFoundError):
        return EdgeError(f"{repo} has no such revision", code=ExitCode.NOT_FOUND)
    if isinstance(exc, hf_errors.EntryNotFoundError):
        return EdgeError(f"{repo} has no file {what}", code=ExitCode.NOT_FOUND)
    if isinstance(exc, hf_errors.OfflineModeIsEnabled | hf_errors.LocalEntryNotFoundError):
        return EdgeError(
            f"cannot reach {_endpoint()} (offline)",
            "drop --offline/HF_HUB_OFFLINE, or pull on a connected machine",
            ExitCode.UNREACHABLE,
        )
    if isinstance(exc, hf_errors.HfHubHTTPError):
        status = getattr(getattr(exc, "response", None), "status_code", None)
        if status in (401, 403):
            return EdgeError(f"{repo}: access denied ({status})", LOGIN_HINT, ExitCode.FAILURE)
        if status == 404:
            return EdgeError(f"{repo}: not found ({what or 'repo'})", code=ExitCode.NOT_FOUND)
        return EdgeError(f"the Hub answered {status} for {repo}: {str(exc).splitlines()[0]}", code=ExitCode.UNREACHABLE)
    if isinstance(exc, transport_errors()):
        return EdgeError(
            f"cannot reach {_endpoint()}: {type(exc).__name__}",
            "check the network or HF_ENDPOINT",
            ExitCode.UNREACHABLE,
        )
    return None


def _call(fn: Callable[[], Any], repo: str, what: str = "") -> Any:
    try:
        return fn()
    except EdgeError:
        raise
    except Exception as e:
        mapped = map_error(e, repo, what)
        if mapped is None:
            raise
        raise mapped from e


def list_files(repo: str, revision: str | None = None, token: str | None = None) -> dict[str, Any]:
    """The repo's commit, gated flag and every file with size and LFS sha256."""
    from huggingface_hub import HfApi

    if offline():
        raise EdgeError(f"cannot list {repo}: offline", "drop --offline/HF_HUB_OFFLINE", ExitCode.UNREACHABLE)
    api = HfApi(endpoint=_endpoint(), token=token)
    info = _call(lambda: api.model_info(repo, revision=revision, files_metadata=True, timeout=READ_TIMEOUT_S), repo)
    files: list[dict[str, Any]] = []
    unsafe: list[str] = []
    for s in info.siblings or []:
        if not safe_repo_path(s.rfilename):
            unsafe.append(s.rfilename)
            continue
        lfs = s.lfs
        files.append(
            {
                "file": s.rfilename,
                "size_bytes": (lfs.size if lfs else None) or s.size or 0,
                "sha256": lfs.sha256 if lfs else None,
            }
        )
    return {"commit": info.sha, "gated": bool(getattr(info, "gated", False)), "files": files, "unsafe": unsafe}


def safe_repo_path(name: str) -> bool:
    """A repo file name we would ask for: relative, no `..`, no backslash or control characters."""
    if not name or name.startswith(("/", "~")) or "\\" in name or any(ord(c) < 32 for c in name):
        return False
    return all(part not in ("", ".", "..") for part in name.split("/"))


class RangeFile:
    """A read-only stream over HTTP Range requests, fetched in growing blocks (1 MiB, doubling)."""

    def __init__(self, url: str, headers: dict[str, str], size: int | None, repo: str = "", filename: str = "") -> None:
        import httpx

        self.url = url
        self.repo = repo
        self.filename = filename
        self.client = httpx.Client(
            headers=headers, follow_redirects=True, timeout=httpx.Timeout(READ_TIMEOUT_S, connect=10)
        )
        self.size = size
        self.buf = b""
        self.buf_start = 0
        self.pos = 0
        self.block = 1 << 20
        self.fetched = 0

    def _fetch(self, start: int, n: int) -> bytes:
        end = start + n - 1
        if self.size is not None:
            end = min(end, self.size - 1)
        if end < start:
            return b""
        import httpx

        for attempt in range(HEADER_ATTEMPTS):
            try:
                r = self.client.get(self.url, headers={"Range": f"bytes={start}-{end}"})
                if r.status_code < 500:
                    break
            except httpx.TransportError:
                if attempt == HEADER_ATTEMPTS - 1:
                    raise
            if attempt < HEADER_ATTEMPTS - 1:
                time.sleep(0.5 * 2**attempt)  # a dropped connection or a 5xx while planning: ask again
        if r.status_code >= 400:
            raise _status(r.status_code, self.repo, self.filename)
        data = r.content if r.status_code == 206 else r.content[start : end + 1]
        self.fetched += len(data)
        return data

    def read(self, n: int) -> bytes:
        have_end = self.buf_start + len(self.buf)
        if self.pos + n > have_end:
            want = max(n, self.block)
            self.block = min(self.block * 2, 16 << 20)
            self.buf = self.buf[self.pos - self.buf_start :] if self.pos < have_end else b""
            self.buf_start = self.pos
            self.buf += self._fetch(self.buf_start + len(self.buf), want)
        start = self.pos - self.buf_start
        data = self.buf[start : start + n]
        self.pos += len(data)
        return data

    def close(self) -> None:
        self.client.close()


def read_remote_header(
    repo: str, filename: str, revision: str, size: int | None, token: str | None = None
) -> tuple[gguf.GGUFHeader, int]:
    """The GGUF header of a remote file and the bytes it took to read it."""
    from huggingface_hub import hf_hub_url
    from huggingface_hub.utils import build_hf_headers

    url = hf_hub_url(repo, filename, revision=revision, endpoint=_endpoint())
    stream = RangeFile(url, build_hf_headers(token=token), size, repo, filename)
    try:
        header = _call(lambda: gguf.read_header(stream, size=size, tensors=True), repo, filename)  # type: ignore[arg-type]
        return header, stream.fetched
    finally:
        stream.close()


class StreamHash:
    """sha256 of the bytes as they are written, on a thread of its own: hashlib releases the GIL, so
    hashing overlaps the network instead of reading the whole file again afterwards."""

    def __init__(self) -> None:
        self._start()

    def _start(self) -> None:
        import hashlib
        import queue
        import threading

        self._h = hashlib.sha256()
        self._q: queue.Queue[bytes | None] = queue.Queue(maxsize=64)  # at most 64 MiB waiting
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (chunk := self._q.get()) is not None:
            self._h.update(chunk)

    def update(self, chunk: bytes) -> None:
        self._q.put(chunk)

    def reset(self) -> None:
        """Start over (the partial file was dropped, or the server sent the file whole from byte 0)."""
        self.hexdigest()
        self._start()

    def feed_file(self, path: Path) -> None:
        """The bytes a partial file already holds (a resumed download), read once."""
        with path.open("rb") as f:
            while chunk := f.read(CHUNK):
                self.update(chunk)

    def hexdigest(self) -> str:
        self._q.put(None)
        self._thread.join()
        return self._h.hexdigest()


def download(
    repo: str,
    filename: str,
    revision: str,
    dest_dir: Path,
    size: int | None,
    token: str | None = None,
    attempts: int = 8,
    on_retry: Callable[[int, str], None] | None = None,
    progress: Progress | None = None,
    hashed: list[str] | None = None,
) -> Path:
    """Download into dest_dir through our own partial file, resumed with a Range request after a
    dropped connection and in a later run (after Ctrl-C or kill -9) alike. The sha256 of what was
    written is computed as it is written and appended to `hashed` (so the file is read once).

    Retries back off 1, 2, 4, 8 s. A server that sends nothing for READ_TIMEOUT_S has stalled; when no
    byte has arrived for STALL_LIMIT_S across retries, the pull fails (exit 5) naming the host. 5xx
    answers are retried and then reported as unreachable; 401/403/404 are final.
    """
    import httpx
    from huggingface_hub import hf_hub_url
    from huggingface_hub.utils import build_hf_headers

    url = hf_hub_url(repo, filename, revision=revision, endpoint=_endpoint())
    host = httpx.URL(url).host
    dest_dir.mkdir(parents=True, exist_ok=True)
    final = dest_dir / Path(filename).name
    part = final.with_name(final.name + ".part")
    timeout = httpx.Timeout(READ_TIMEOUT_S, connect=10)
    clock = _Progress()
    server_errors = 0
    digest = StreamHash()
    if part.exists() and (size is None or part.stat().st_size <= size):
        digest.feed_file(part)
    with httpx.Client(headers=build_hf_headers(token=token), follow_redirects=True, timeout=timeout) as client:
        for attempt in range(1, attempts + 1):
            try:
                if _fetch_rest(client, url, part, size, repo, filename, clock, progress, digest):
                    break
                why = "the connection closed early"
            except httpx.TransportError as e:
                why = f"{type(e).__name__}"
            except _ServerError as e:
                why = str(e)
                server_errors += 1
                if server_errors >= SERVER_ERROR_ATTEMPTS:
                    raise EdgeError(
                        f"cannot download {filename} from {host}: {why}",
                        "the Hub is failing; try later",
                        ExitCode.UNREACHABLE,
                    ) from None
            stalled = time.monotonic() - clock.last > STALL_LIMIT_S
            if attempt == attempts or stalled:
                raise EdgeError(
                    f"cannot download {filename} from {host}: {why}",
                    "check the network or HF_ENDPOINT; pull again to resume",
                    ExitCode.UNREACHABLE,
                )
            if on_retry:
                on_retry(attempt, why)
            time.sleep(min(2 ** (attempt - 1), 8))
    sha = digest.hexdigest()
    os.replace(part, final)
    if hashed is not None:
        hashed.append(sha)
    return final


class _ServerError(Exception):
    pass


class _Progress:
    """When the last byte arrived."""

    def __init__(self) -> None:
        self.last = time.monotonic()


def _fetch_rest(
    client: Any,
    url: str,
    part: Path,
    size: int | None,
    repo: str,
    filename: str,
    clock: _Progress,
    progress: Progress | None = None,
    digest: StreamHash | None = None,
) -> bool:
    """Append what the partial file lacks (hashing it on the way); True when it is complete."""
    have = part.stat().st_size if part.exists() else 0
    if size is not None and have > size:
        part.unlink()
        have = 0
        if digest:
            digest.reset()
    if size is not None and have == size:
        return True
    # identity: the bytes on the wire are the file's, so they are written as they come (iter_raw: no
    # re-chunking into 1 MiB pieces, which cost 1.3-1.8x the time of the transfer on a local link)
    headers = {"Accept-Encoding": "identity", **({"Range": f"bytes={have}-"} if have else {})}
    with client.stream("GET", url, headers=headers) as r:
        if r.status_code >= 500:
            raise _ServerError(f"the server answered {r.status_code}")
        if r.status_code == 416 and size is None:
            return True
        if r.status_code not in (200, 206):
            r.read()
            raise _status(r.status_code, repo, filename)
        mode = "ab" if r.status_code == 206 else "wb"  # 200: the server sent it whole, from the start
        if mode == "wb" and have and digest:
            digest.reset()
        with part.open(mode) as f:
            done = have if r.status_code == 206 else 0
            encoded = r.headers.get("Content-Encoding", "identity") not in ("identity", "")
            for chunk in r.iter_bytes() if encoded else r.iter_raw():
                f.write(chunk)
                if digest:
                    digest.update(chunk)
                clock.last = time.monotonic()
                done += len(chunk)
                if progress:
                    progress(done, size)
    done = part.stat().st_size
    return done == size if size is not None else True


def _status(status: int, repo: str, filename: str) -> EdgeError:
    if status in (401, 403):
        return EdgeError(f"{repo}: access denied ({status})", LOGIN_HINT, ExitCode.FAILURE)
    if status == 404:
        return EdgeError(f"{repo} has no file {filename}", code=ExitCode.NOT_FOUND)
    return EdgeError(f"the Hub answered {status} for {repo}/{filename}", code=ExitCode.UNREACHABLE)
