"""OpenAI-compatible endpoints over HTTP: URLs, auth headers, and HTTP failures as EdgeErrors."""

from __future__ import annotations

from typing import Any

from edgeagent_cli.core.errors import EdgeError, ExitCode

# httpx, and the fork huggingface_hub ships with (httpx2): their transport errors are the network failing.
HTTP_CLIENTS = ("httpx", "httpx2")


def transport_errors() -> tuple[type[BaseException], ...]:
    """Exception types that mean the network or the server is not there. A client that was never
    imported cannot have raised, so only loaded clients are asked (start-up stays light)."""
    import sys

    loaded = [sys.modules[name] for name in HTTP_CLIENTS if name in sys.modules]
    return (ConnectionError, TimeoutError, *(m.TransportError for m in loaded if hasattr(m, "TransportError")))


def base_v1(url: str) -> str:
    """Users paste `http://host:port` or `http://host:port/v1`; the OpenAI routes live under /v1."""
    url = url.rstrip("/")
    return url if url.endswith("/v1") else url + "/v1"


def bearer(api_key: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}"} if api_key else {}


def status_error(status: int, where: str, detail: str = "") -> EdgeError:
    """An HTTP error status -> the message and exit code a user can act on."""
    detail = f": {detail}" if detail else ""
    if status in (401, 403):
        return EdgeError(f"{where} refused the request ({status})", "pass --api-key", ExitCode.FAILURE)
    if status == 404:
        return EdgeError(f"{where}: not found (404){detail}", "check the URL and the model name", ExitCode.NOT_FOUND)
    return EdgeError(f"{where} answered {status}{detail}", code=ExitCode.FAILURE)


def unreachable(where: str, exc: BaseException | None = None, hint: str = "is the server running?") -> EdgeError:
    why = f": {type(exc).__name__}" if exc is not None else ""
    return EdgeError(f"cannot reach {where}{why}", hint, ExitCode.UNREACHABLE)


def model_id(base_url: str, api_key: str | None) -> str:
    """The first model an endpoint serves (GET /v1/models)."""
    import httpx

    try:
        r = httpx.get(f"{base_url}/models", headers=bearer(api_key), timeout=5)
    except httpx.HTTPError as e:
        raise unreachable(base_url, e) from e
    if r.status_code != 200:
        raise status_error(r.status_code, base_url)
    data: list[dict[str, Any]] = r.json().get("data") or []
    if not data:
        raise EdgeError(f"{base_url} serves no model", code=ExitCode.NOT_FOUND)
    return str(data[0]["id"])


def http_status(url: str, api_key: str | None = None, timeout: float = 2.0) -> int | None:
    """The status a GET gets; None when nothing answers."""
    import httpx

    try:
        return httpx.get(url, headers=bearer(api_key), timeout=timeout).status_code
    except httpx.HTTPError:
        return None
