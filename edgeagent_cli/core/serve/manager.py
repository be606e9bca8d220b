"""Managed servers: the gateway (gateway.py) for one or more store models, as a background process.

State per server in EDGEAGENT_HOME/servers/<name>.json (pid, the process's start time and command
line, port, models, log path), written atomically; beside it the gateway's config
(<name>.gateway-config) and the models' live state, which the gateway rewrites every second
(<name>.models-state). A PID alone names a process only until it exits:
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

GATEWAY_MODULE = "edgeagent_cli.core.serve.gateway"
IDLE_TTL = 600.0  # seconds a model stays loaded without a request (Ollama's keep-alive is 5 min, LM Studio's TTL 60)
MAX_BODY = 8 * 2**20  # a request body: far above any context these models hold, far below memory trouble
REQUEST_TIMEOUT = 600.0


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


def local_names() -> set[str]:
    """What clients on the network may call this machine: its host names and interface addresses."""
    import psutil

    names = {socket.gethostname(), socket.getfqdn()}
    for addrs in psutil.net_if_addrs().values():
        for a in addrs:
            if a.family in (socket.AF_INET, socket.AF_INET6):
                ip = a.address.split("%")[0]
                names.add(f"[{ip}]" if ":" in ip else ip)
    return {n for n in names if n}


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
    return GATEWAY_MODULE in cmdline and str(st.get("config")) in cmdline


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
            for name in ("config", "state_file") if isinstance(st, dict) else ():
                if isinstance(st.get(name), str) and Path(st[name]).parent == paths.servers_dir():
                    Path(st[name]).unlink(missing_ok=True)
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
    models: list[str] | None = None
    engine: str = ""


@dataclass
class ServerList(Result):
    servers: list[dict[str, Any]]

    def table(self) -> Table:
        rows = [
            [s["name"], m["id"], m["state"], m["resident_bytes"], m["requests"], m["last_used"], s["base_url"]]
            for s in self.servers
            for m in s["served"]
        ]
        return Table(["server", "model", "state", "resident_bytes", "requests", "last_used", "base_url"], rows)


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


@dataclass
class Served:
    """A model a server is asked to serve: its store name, file, and fit estimates."""

    name: str
    path: Path
    estimate_bytes: int
    agent_bytes: int


def served(name: str, path: Path, settings: Settings, engine: str, context: int | None = None) -> Served:
    """The fit estimate of one engine process (every slot's KV cache) and of the in-process tool path."""
    from edgeagent_cli.core.agent.runtime.open import MAX_LOCAL_CONTEXT
    from edgeagent_cli.core.models import fit, gguf
    from edgeagent_cli.core.serve import engines

    summary = gguf.read_file_header(path).summary()
    arch = gguf.arch_numbers(summary)
    size = path.stat().st_size
    ctx = context or int(settings["context"])
    kv = str(settings["kv_cache_type"])
    offload = int(settings["gpu_layers"]) != 0 and bool(settings.machine.offload)
    if not {"n_layers", "n_kv_heads", "head_dim"} <= arch.keys():
        return Served(name, path, size, size)  # no architecture numbers: the weights are the floor
    slots = engines.slots(engine, int(settings["parallel"]))
    engine_bytes = fit.estimate(size, arch, ctx * slots, kv, offload)["total_bytes"]
    agent_bytes = fit.estimate(size, arch, min(ctx, MAX_LOCAL_CONTEXT), kv, offload)["total_bytes"]
    return Served(name, path, engine_bytes, agent_bytes)


def check_budget(models: list[Served], budget: int, source: str) -> None:
    """Exit 4 before anything starts when a model cannot fit the budget even alone."""
    for m in models:
        if m.estimate_bytes > budget:
            raise EdgeError(
                f"{m.name} needs {m.estimate_bytes / 2**20:.0f} MiB and the memory budget is "
                f"{budget / 2**20:.0f} MiB ({source})",
                "lower --ctx or --parallel, raise --max-memory, or pick a smaller quant",
                ExitCode.DOES_NOT_FIT,
            )


@dataclass
class Options:
    """How a server is run and locked down (serve start's flags)."""

    engine: str
    host: str = "127.0.0.1"
    port: int | None = None
    api_key: str | None = None
    metrics_key: str | None = None
    cors_origins: list[str] | None = None
    allow_hosts: list[str] | None = None
    idle_ttl: float = IDLE_TTL
    max_body: int = MAX_BODY
    request_timeout: float = REQUEST_TIMEOUT


def start(name: str, models: list[Served], opts: Options, settings: Settings, wait: float = 120.0) -> Started:
    """Start (or find) the server `name`; wait until it answers."""
    check_access(opts.host, opts.api_key, settings)
    budget, source = settings.budget()
    check_budget(models, budget, source)
    with file_lock(paths.servers_dir() / f".{safe_name(name)}.lock"):
        for st in states():
            if st["name"] == name:
                return _started(st, True, settings)
        return _launch(name, models, opts, settings, budget, source, wait)


def _port_free(host: str, port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def _launch(
    name: str, models: list[Served], opts: Options, settings: Settings, budget: int, source: str, wait: float
) -> Started:
    bind = opts.host if is_loopback(opts.host) else "0.0.0.0"
    port = opts.port
    if port is not None and not _port_free(bind, port):
        raise EdgeError(f"port {port} on {opts.host} is in use", "pick another --port, or leave it out for a free one")
    port = port or free_port(bind)
    key = safe_name(name)
    log = paths.logs_dir() / f"serve-{key}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    config = paths.servers_dir() / f"{key}.gateway-config"
    state_file = paths.servers_dir() / f"{key}.models-state"
    cfg = {
        "name": name,
        "host": opts.host,
        "port": port,
        "engine": opts.engine,
        "budget_bytes": budget,
        "budget_source": source,
        "idle_ttl": opts.idle_ttl,
        "cors_origins": opts.cors_origins or [],
        "allowed_hosts": sorted(set(opts.allow_hosts or []) | (local_names() if opts.host == "0.0.0.0" else set())),
        "max_body_bytes": opts.max_body,
        "request_timeout": opts.request_timeout,
        "log_dir": str(paths.logs_dir()),
        "state_file": str(state_file),
        "models": [
            {"name": m.name, "path": str(m.path), "estimate_bytes": m.estimate_bytes, "agent_bytes": m.agent_bytes}
            for m in models
        ],
        "options": {
            k: settings[k]
            for k in ("context", "parallel", "threads", "gpu_layers", "batch", "kv_cache_type", "flash_attn", "mlock")
        },  # fmt: skip
    }
    paths.servers_dir().mkdir(parents=True, exist_ok=True)
    atomic_write_text(config, json.dumps(cfg, indent=2))
    cmd = [sys.executable, "-m", GATEWAY_MODULE, str(config)]
    env = {**os.environ, "EDGEAGENT_SERVE_KEY": opts.api_key or "", "EDGEAGENT_METRICS_KEY": opts.metrics_key or ""}
    with log.open("ab") as fh:
        proc = subprocess.Popen(
            cmd, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True, env=env
        )
    host = "127.0.0.1" if opts.host in ("0.0.0.0", "localhost") else opts.host
    base_url = f"http://{host}:{port}/v1"
    st = {
        "name": name,
        "pid": proc.pid,
        "host": opts.host,
        "port": port,
        "base_url": base_url,
        "model": name,
        "models": [m.name for m in models],
        "engine": opts.engine,
        "config": str(config),
        "state_file": str(state_file),
        "log": str(log),
        "started_at": time.time(),
        "api_key_set": bool(opts.api_key),
        "command": shlex.join(cmd),
        "create_time": (identity(proc.pid) or {}).get("create_time"),
    }
    _wait_until_it_answers(proc, base_url, opts.api_key, models[0].name, log, wait)
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
    return Started(
        st["base_url"],
        st["pid"],
        st["model"],
        st["port"],
        st["log"],
        existing,
        settings.to_dict(),
        st.get("models") or [st["model"]],
        st.get("engine") or "",
    )


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
        for extra in ("config", "state_file"):
            if st.get(extra):
                Path(st[extra]).unlink(missing_ok=True)
    return Stopped([s["name"] for s in running])


def status() -> ServerList:
    import psutil

    out = []
    for st in states():
        try:
            proc = psutil.Process(st["pid"])
            rss = proc.memory_info().rss + sum(c.memory_info().rss for c in proc.children(recursive=True))
        except psutil.Error:
            rss = None
        now = live(st)
        out.append(
            {
                **st,
                "healthy": _healthy(st),
                "uptime_s": time.time() - st["started_at"],
                "rss_bytes": rss,
                "budget_bytes": now.get("budget_bytes"),
                "served": now.get("models") or [],
            }
        )
    return ServerList(out)


def live(st: dict[str, Any]) -> dict[str, Any]:
    """What the gateway last wrote about its models (rewritten every second)."""
    try:
        doc = json.loads(Path(st.get("state_file") or "").read_text())
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}


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
