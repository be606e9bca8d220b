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
    info = _call(
        lambda: HfApi(endpoint=_endpoint(), token=token).model_info(repo, revision=revision, files_metadata=True), repo
    )
    files = []
    for s in info.siblings or []:
        lfs = s.lfs
        files.append(
            {
                "file": s.rfilename,
                "size_bytes": (lfs.size if lfs else None) or s.size or 0,
                "sha256": lfs.sha256 if lfs else None,
            }
        )
    return {"commit": info.sha, "gated": bool(getattr(info, "gated", False)), "files": files}


class RangeFile:
    """A read-only stream over HTTP Range requests, fetched in growing blocks (1 MiB, doubling)."""

    def __init__(self, url: str, headers: dict[str, str], size: int | None) -> None:
        import httpx

        self.url = url
        self.client = httpx.Client(headers=headers, follow_redirects=True, timeout=30)
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
        r = self.client.get(self.url, headers={"Range": f"bytes={start}-{end}"})
        r.raise_for_status()
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
    stream = RangeFile(url, build_hf_headers(token=token), size)
    try:
        header = _call(lambda: gguf.read_header(stream, size=size, tensors=True), repo, filename)  # type: ignore[arg-type]
        return header, stream.fetched
    finally:
        stream.close()


def download(
    repo: str,
    filename: str,
    revision: str,
    dest_dir: Path,
    size: int | None,
    token: str | None = None,
    attempts: int = 6,
    progress: bool = False,
    on_retry: Callable[[int, str], None] | None = None,
) -> Path:
    """Download into dest_dir, resuming a partial file left by this or an earlier run.

    huggingface_hub keeps `<dest>/.cache/huggingface/download/<file>.incomplete` and resumes it with a
    Range request; around it, retries with exponential backoff (1, 2, 4 ... s) when the connection drops.
    """
    from huggingface_hub import hf_hub_download
    from huggingface_hub.utils import disable_progress_bars, enable_progress_bars

    (enable_progress_bars if progress else disable_progress_bars)()
    delay = 1.0
    for attempt in range(1, attempts + 1):
        try:
            path = hf_hub_download(
                repo, filename, revision=revision, local_dir=dest_dir, token=token, endpoint=_endpoint()
            )
            return Path(path)
        except Exception as e:
            mapped = map_error(e, repo, filename)
            transient = mapped is None or mapped.code == ExitCode.UNREACHABLE
            if isinstance(e, OSError) and not isinstance(e, ConnectionError | TimeoutError):
                transient = False  # a full disk or a permission problem does not heal with retries
            if not transient or attempt == attempts:
                if mapped is None:
                    raise
                raise mapped from e
            if on_retry:
                on_retry(attempt, f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
            time.sleep(delay)
            delay = min(delay * 2, 30)
    raise AssertionError("unreachable")
