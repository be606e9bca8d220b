"""A managed llama.cpp OpenAI-compatible server (llama-cpp-python's `llama_cpp.server`).

State per server in EDGEAGENT_HOME/servers/<name>.json (pid, the process's start time and command
line, port, model, log path), written atomically. A PID alone names a process only until it exits:
before anything is signalled, the process must still be the one recorded (same start time, our
server's command line). A record that fails the check is stale and removed, and nothing is killed.
Starting takes a per-name lock, so two concurrent starts of one model give one server.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeagent_cli.core import paths
from edgeagent_cli.core.errors import EdgeError, ExitCode
from edgeagent_cli.core.results import Result, Table
from edgeagent_cli.core.settings import Settings
from edgeagent_cli.core.util.files import atomic_write_text, file_lock, safe_name
from edgeagent_cli.core.util.http import bearer, http_status

SERVER_MODULE = "edgeagent_cli.core.serve.llama_cpp_server"  # llama-cpp-python's server, templates budgeted


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _state_path(name: str) -> Path:
    return paths.servers_dir() / f"{safe_name(name)}.json"


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(Exception):
        import psutil

        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    return True


def identity(pid: int) -> dict[str, Any] | None:
    """What makes a PID one process: its start time and command line (None when it is gone)."""
    import psutil

    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return None
        return {"create_time": proc.create_time(), "cmdline": proc.cmdline()}
    except psutil.Error:
        return None


def is_ours(st: dict[str, Any]) -> bool:
    """The recorded process is still the server we started: same start time, our server's arguments."""
    pid = st.get("pid")
    if not isinstance(pid, int) or pid <= 1:
        return False
    now = identity(pid)
    if now is None or abs(now["create_time"] - float(st.get("create_time") or 0)) > 0.5:
        return False
    cmdline = " ".join(now["cmdline"])
    return SERVER_MODULE in cmdline and str(st.get("model_path")) in cmdline


def states() -> list[dict[str, Any]]:
    """Every recorded server that is still ours; stale or foreign records are removed, never signalled."""
    found = []
    for path in sorted(paths.servers_dir().glob("*.json")) if paths.servers_dir().exists() else []:
        try:
            st = json.loads(path.read_text())
        except (OSError, ValueError):
            path.unlink(missing_ok=True)
            continue
        if isinstance(st, dict) and is_ours(st):
            found.append(st)
        else:
            path.unlink(missing_ok=True)
    return found


@dataclass
class Started(Result):
    base_url: str
    pid: int
    model: str
    port: int
    log: str
    already_running: bool
    settings: dict[str, Any] | None = None


@dataclass
class ServerList(Result):
    servers: list[dict[str, Any]]

    def table(self) -> Table:
        rows = [
            [s["model"], s["base_url"], s["pid"], s["healthy"], round(s["uptime_s"]), s["rss_bytes"]]
            for s in self.servers
        ]
        return Table(["model", "base_url", "pid", "healthy", "uptime_s", "rss_bytes"], rows)


@dataclass
class Stopped(Result):
    stopped: list[str]


@dataclass
class LogTail(Result):
    log: str
    lines: list[str]


def check_access(host: str, api_key: str | None, settings: Settings) -> None:
    """A server others can reach, or one the deployment profile locks, needs an API key."""
    if not is_loopback(host) and not api_key:
        hint = "pass --api-key (or bind 127.0.0.1)"
        raise EdgeError(f"refusing to listen on {host} without an API key", hint, ExitCode.USAGE)
    if settings["api_key_required"] and not api_key:
        why = f"an API key is required ({settings.source('api_key_required')})"
        raise EdgeError(why, "pass --api-key or set EDGEAGENT_API_KEY", ExitCode.USAGE)


def server_args(settings: Settings) -> list[str]:
    """llama-cpp-python server flags from the settings. A quantized V cache needs flash attention in
    llama.cpp, so without it only the K cache is quantized."""
    import llama_cpp

    args = [
        "--n_ctx",
        str(settings["context"]),
        "--n_threads",
        str(settings["threads"]),
        "--n_gpu_layers",
        str(settings["gpu_layers"]),
        "--n_batch",
        str(settings["batch"]),
        "--use_mlock",
        str(bool(settings["mlock"])),
        "--flash_attn",
        str(bool(settings["flash_attn"])),
    ]
    kv = str(settings["kv_cache_type"])
    if kv != "f16":
        kind = str(getattr(llama_cpp, f"GGML_TYPE_{kv.upper()}"))
        args += ["--type_k", kind] + (["--type_v", kind] if settings["flash_attn"] else [])
    return args


def start(
    name: str,
    model_path: Path,
    host: str,
    port: int | None,
    api_key: str | None,
    settings: Settings,
    wait: float = 120.0,
) -> Started:
    """Start (or find) the server for `name`; wait until it answers."""
    check_access(host, api_key, settings)
    with file_lock(paths.servers_dir() / f".{safe_name(name)}.lock"):
        for st in states():
            if st["name"] == name:
                return _started(st, True, settings)
        return _launch(name, model_path, host, port, api_key, settings, wait)


def _port_free(host: str, port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def _launch(
    name: str, model_path: Path, host: str, port: int | None, api_key: str | None, settings: Settings, wait: float
) -> Started:
    bind = host if is_loopback(host) else "0.0.0.0"
    if port is not None and not _port_free(bind, port):
        raise EdgeError(f"port {port} on {host} is in use", "pick another --port, or leave it out for a free one")
    port = port or free_port(bind)
    log = paths.logs_dir() / f"serve-{safe_name(name)}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    # --interrupt_requests False: concurrent requests queue; none is cut off by the next
    cmd = [
        sys.executable,
        "-m",
        SERVER_MODULE,
        "--model",
        str(model_path),
        "--host",
        host,
        "--port",
        str(port),
        *server_args(settings),
        "--model_alias",
        name,
        "--interrupt_requests",
        "False",
    ]
    if api_key:
        cmd += ["--api_key", api_key]
    with log.open("ab") as fh:
        proc = subprocess.Popen(
            cmd, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )
    base_url = f"http://{'127.0.0.1' if host in ('0.0.0.0', 'localhost') else host}:{port}/v1"
    st = {
        "name": name,
        "pid": proc.pid,
        "host": host,
        "port": port,
        "base_url": base_url,
        "model": name,
        "model_path": str(model_path),
        "log": str(log),
        "started_at": time.time(),
        "api_key_set": bool(api_key),
        "command": shlex.join(c if c != api_key else "***" for c in cmd),
        "create_time": (identity(proc.pid) or {}).get("create_time"),
    }
    _wait_until_it_answers(proc, base_url, api_key, name, log, wait)
    atomic_write_text(_state_path(name), json.dumps(st, indent=2))
    return _started(st, False, settings)


def _wait_until_it_answers(
    proc: subprocess.Popen[bytes], base_url: str, api_key: str | None, name: str, log: Path, wait: float
) -> None:
    """Ready means: our process is alive and the server on the port serves our model under our name."""
    deadline = time.time() + wait
    while time.time() < deadline:
        if proc.poll() is not None:
            raise EdgeError(f"the server exited with code {proc.returncode}: {tail(log, 3)}", f"full log: {log}")
        if name in served_models(base_url, api_key) and proc.poll() is None:
            return
        time.sleep(0.2)
    stop_pid(proc.pid)
    why = f"the server did not answer within {wait:.0f} s: {tail(log, 3)}"
    raise EdgeError(why, f"full log: {log}", ExitCode.UNREACHABLE)


def _started(st: dict[str, Any], existing: bool, settings: Settings) -> Started:
    return Started(st["base_url"], st["pid"], st["model"], st["port"], st["log"], existing, settings.to_dict())


def tail(log: Path, n: int) -> str:
    try:
        lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return ""
    return " | ".join(lines[-n:])


def served_models(base_url: str, api_key: str | None) -> list[str]:
    import httpx

    try:
        r = httpx.get(f"{base_url}/models", headers=bearer(api_key), timeout=1.0)
        return [str(m.get("id")) for m in r.json().get("data") or []] if r.status_code == 200 else []
    except (httpx.HTTPError, ValueError, AttributeError):
        return []


def stop_pid(pid: int, grace: float = 10.0) -> None:
    """SIGTERM the server's process group, then SIGKILL what is left after `grace` seconds."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, sig)
        deadline = time.time() + wait
        while time.time() < deadline:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
            if not alive(pid):
                return
            time.sleep(0.1)


def stop(name: str | None) -> Stopped:
    running = [s for s in states() if name is None or s["name"] == name]
    if name and not running:
        raise EdgeError(f"no server named {name!r} is running", "see `edgeagent serve status`", ExitCode.NOT_FOUND)
    for st in running:
        if is_ours(st):  # checked again right before the signal
            stop_pid(st["pid"])
        _state_path(st["name"]).unlink(missing_ok=True)
    return Stopped([s["name"] for s in running])


def status() -> ServerList:
    import psutil

    out = []
    for st in states():
        try:
            rss = psutil.Process(st["pid"]).memory_info().rss
        except psutil.Error:
            rss = None
        out.append(
            {
                **st,
                "healthy": _healthy(st),
                "uptime_s": time.time() - st["started_at"],
                "rss_bytes": rss,
            }
        )
    return ServerList(out)


def _healthy(st: dict[str, Any]) -> bool:
    """It answers: 200 without a key, or, for a server started with a key, a refusal of our keyless request."""
    status = http_status(f"{st['base_url']}/models")
    return status == 200 or (bool(st.get("api_key_set")) and status in (401, 403))


def log_tail(name: str | None, lines: int) -> LogTail:
    """The last lines of a running server's log (the only one running, when no name is given)."""
    running = [s for s in states() if name is None or s["name"] == name]
    if not running:
        raise EdgeError("no such server running", "see `edgeagent serve status`", ExitCode.NOT_FOUND)
    log = Path(running[0]["log"])
    return LogTail(str(log), log.read_text(errors="replace").splitlines()[-lines:])
