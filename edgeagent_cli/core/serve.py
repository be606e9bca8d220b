"""A managed llama.cpp OpenAI-compatible server (llama-cpp-python's `llama_cpp.server`).

State per server in EDGEAGENT_HOME/servers/<name>.json (pid, port, model, log path), written
atomically; a state file whose process died is cleaned up by `status` and `stop`.
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
from pathlib import Path
from typing import Any

from edgeagent_cli import paths
from edgeagent_cli.core.store import atomic_write_text, safe_dirname
from edgeagent_cli.errors import EdgeError, ExitCode


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
    return paths.servers_dir() / f"{safe_dirname(name)}.json"


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


def states() -> list[dict[str, Any]]:
    """Every recorded server; state left by a dead process is removed."""
    found = []
    for path in sorted(paths.servers_dir().glob("*.json")) if paths.servers_dir().exists() else []:
        try:
            st = json.loads(path.read_text())
        except (OSError, ValueError):
            path.unlink(missing_ok=True)
            continue
        if alive(st["pid"]):
            found.append(st)
        else:
            path.unlink(missing_ok=True)
    return found


def answers(base_url: str, api_key: str | None, timeout: float = 2.0) -> bool:
    import httpx

    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    try:
        return httpx.get(f"{base_url}/models", headers=headers, timeout=timeout).status_code == 200
    except httpx.HTTPError:
        return False


def start(name: str, model_path: Path, host: str, port: int | None, api_key: str | None, ctx: int, threads: int,
          n_gpu_layers: int = 0, parallel: int = 1, wait: float = 120.0) -> tuple[dict[str, Any], bool]:  # fmt: skip
    """Start (or find) the server for `name`; returns its state and whether it was already running."""
    if not is_loopback(host) and not api_key:
        raise EdgeError(f"refusing to listen on {host} without an API key", "pass --api-key (or bind 127.0.0.1)", ExitCode.USAGE)
    for st in states():
        if st["name"] == name:
            return st, True
    port = port or free_port(host if is_loopback(host) else "0.0.0.0")
    log = paths.logs_dir() / f"serve-{safe_dirname(name)}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(model_path), "--host", host, "--port", str(port),
           "--n_ctx", str(ctx), "--n_threads", str(threads), "--n_gpu_layers", str(n_gpu_layers),
           "--model_alias", name, "--interrupt_requests", "False"]  # queue concurrent requests, never cut one off  # fmt: skip
    if api_key:
        cmd += ["--api_key", api_key]
    with log.open("ab") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    base_url = f"http://{'127.0.0.1' if host in ('0.0.0.0', 'localhost') else host}:{port}/v1"
    st = {"name": name, "pid": proc.pid, "host": host, "port": port, "base_url": base_url, "model": name,
          "model_path": str(model_path), "log": str(log), "started_at": time.time(), "api_key_set": bool(api_key),
          "command": shlex.join(c if c != api_key else "***" for c in cmd)}  # fmt: skip
    deadline = time.time() + wait
    while time.time() < deadline:
        if proc.poll() is not None:
            raise EdgeError(f"the server exited with code {proc.returncode}: {tail(log, 3)}", f"full log: {log}")
        if answers(base_url, api_key, timeout=1.0):
            atomic_write_text(_state_path(name), json.dumps(st, indent=2))
            return st, False
        time.sleep(0.2)
    stop_pid(proc.pid)
    raise EdgeError(f"the server did not answer within {wait:.0f} s: {tail(log, 3)}", f"full log: {log}", ExitCode.UNREACHABLE)


def tail(log: Path, n: int) -> str:
    try:
        lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return ""
    return " | ".join(lines[-n:])


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


def stop(name: str | None) -> list[dict[str, Any]]:
    running = [s for s in states() if name is None or s["name"] == name]
    if name and not running:
        raise EdgeError(f"no server named {name!r} is running", "see `edgeagent serve status`", ExitCode.NOT_FOUND)
    for st in running:
        stop_pid(st["pid"])
        _state_path(st["name"]).unlink(missing_ok=True)
    return running


def status() -> list[dict[str, Any]]:
    import psutil

    out = []
    for st in states():
        try:
            rss = psutil.Process(st["pid"]).memory_info().rss
        except psutil.Error:
            rss = None
        out.append({**st, "healthy": answers(st["base_url"], None) or st.get("api_key_set", False),
                    "uptime_s": time.time() - st["started_at"], "rss_bytes": rss})  # fmt: skip
    return out


def vllm_command(model: str, deployment: dict[str, Any], host: str, port: int, api_key: str | None) -> list[str]:
    """`vllm serve` from a deployment profile, for users who outgrow one machine."""
    cmd = ["vllm", "serve", model, "--host", host, "--port", str(port),
           "--max-model-len", str(deployment.get("context", 8192)),
           "--tensor-parallel-size", str(deployment.get("tensor_parallel_size", 1)),
           "--gpu-memory-utilization", str(deployment.get("gpu_memory_utilization", 0.9)),
           "--max-num-seqs", str(deployment.get("parallel", 8))]  # fmt: skip
    cmd.append("--enable-prefix-caching" if deployment.get("prefix_caching") else "--no-enable-prefix-caching")
    if deployment.get("kv_cache_type") in ("q8_0", "fp8"):
        cmd += ["--kv-cache-dtype", "fp8"]
    if api_key:
        cmd += ["--api-key", api_key]
    return cmd
