"""The models one gateway serves, within one memory budget (Ollama's keep-alive, LM Studio's idle TTL).

A model is loaded on its first request (its engine process started and answering) and unloaded after
`idle_ttl` seconds without one. Before a load, the fit estimate (weights + KV cache for every slot +
compute + runtime) is checked against the budget; the least recently used idle models are unloaded
to make room. A model that cannot fit even alone is `TooBig` (HTTP 507); one that cannot fit because
busy models hold the room is `Busy` (HTTP 507 too, with what holds it). The in-process tool path
(`LocalRuntime`, for requests with tools) counts against the same budget as a second copy.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeagent_cli.core.serve import engines
from edgeagent_cli.core.serve.upstream import Upstream


class TooBig(Exception):
    pass


class Busy(Exception):
    pass


class Unknown(Exception):
    pass


@dataclass
class Model:
    name: str
    path: Path
    estimate_bytes: int  # one engine process with every slot's KV cache
    agent_bytes: int  # the in-process tool path (one conversation's context)
    backend: Backend | None = None
    agent: Any = None  # LocalRuntime, loaded on the first request with tools
    agent_lock: threading.Lock = field(default_factory=threading.Lock)
    requests: int = 0
    active: int = 0
    waiting: int = 0
    last_used: float = 0.0
    loaded_at: float | None = None
    slots: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(1))  # the engine's
    agent_slot: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(1))  # the tool path's

    @property
    def held_bytes(self) -> int:
        return (self.estimate_bytes if self.backend else 0) + (self.agent_bytes if self.agent is not None else 0)

    def state(self) -> dict[str, Any]:
        return {
            "id": self.name,
            "object": "model",
            "owned_by": "edgeagent",
            "state": "loaded" if self.backend or self.agent is not None else "unloaded",
            "engine_loaded": self.backend is not None,
            "tool_path_loaded": self.agent is not None,
            "estimate_bytes": self.estimate_bytes,
            "resident_bytes": self.resident(),
            "requests": self.requests,
            "running": self.active,
            "waiting": self.waiting,
            "last_used": self.last_used or None,
            "loaded_at": self.loaded_at,
        }

    def resident(self) -> int:
        return self.backend.rss() if self.backend else 0


@dataclass
class Backend:
    proc: subprocess.Popen[bytes]
    port: int
    key: str
    engine: str
    upstream: Upstream = field(init=False)

    def __post_init__(self) -> None:
        self.upstream = Upstream(self.port, self.key)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def rss(self) -> int:
        import psutil

        try:
            return int(psutil.Process(self.proc.pid).memory_info().rss)
        except psutil.Error:
            return 0

    def stop(self, grace: float = 5.0) -> None:
        self.upstream.close()
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


class Pool:
    def __init__(self, cfg: dict[str, Any], metrics: Any = None) -> None:
        self.cfg = cfg
        self.engine = str(cfg["engine"])
        self.budget = int(cfg["budget_bytes"])
        self.budget_source = str(cfg.get("budget_source") or "")
        self.idle_ttl = float(cfg["idle_ttl"])
        self.models: dict[str, Model] = {}
        self.metrics = metrics
        self._lock = asyncio.Lock()
        self._log_dir = Path(cfg["log_dir"])
        for m in cfg["models"]:
            model = Model(m["name"], Path(m["path"]), int(m["estimate_bytes"]), int(m["agent_bytes"]))
            model.slots = asyncio.Semaphore(engines.slots(self.engine, int(cfg["options"]["parallel"])))
            self.models[m["name"]] = model

    # --- lookup and budget -----------------------------------------------------------------------------
    def get(self, name: str | None) -> Model:
        if name in self.models:
            return self.models[name]
        if len(self.models) == 1:  # one model: any name reaches it, as with llama-server
            return next(iter(self.models.values()))
        raise Unknown(f"model {name!r} is not served here (served: {', '.join(self.models)})")

    def held(self) -> int:
        return sum(m.held_bytes for m in self.models.values())

    def _make_room(self, model: Model, need: int) -> None:
        """Unload least recently used idle models until `need` more bytes fit; TooBig / Busy when they cannot."""
        if need + model.held_bytes > self.budget:
            raise TooBig(
                f"model {model.name} needs {_gib(need + model.held_bytes)} and the memory budget is "
                f"{_gib(self.budget)} ({self.budget_source})"
            )
        idle = sorted((m for m in self.models.values() if m is not model and m.active == 0 and m.held_bytes),
                      key=lambda m: m.last_used)  # fmt: skip
        while self.held() + need > self.budget and idle:
            self.unload(idle.pop(0), "evicted for " + model.name)
        if self.held() + need > self.budget:
            busy = [m.name for m in self.models.values() if m is not model and m.held_bytes]
            raise Busy(
                f"model {model.name} needs {_gib(need)} more and the budget of {_gib(self.budget)} is held by "
                f"busy models: {', '.join(busy)}"
            )

    # --- engine processes ------------------------------------------------------------------------------
    async def backend(self, model: Model) -> Backend:
        """The model's engine process, started (after making room) if it is not running."""
        if model.backend and model.backend.proc.poll() is None:
            return model.backend
        async with self._lock:
            if model.backend and model.backend.proc.poll() is None:
                return model.backend
            model.backend = None
            self._make_room(model, model.estimate_bytes)
            started = time.perf_counter()
            model.backend = await asyncio.to_thread(self._start, model)
            model.loaded_at = time.time()
            if self.metrics:
                self.metrics.loads.labels(model.name).inc()
                self.metrics.load_seconds.labels(model.name).observe(time.perf_counter() - started)
            return model.backend

    def _start(self, model: Model) -> Backend:
        from edgeagent_cli.core.serve.manager import free_port

        key = secrets.token_urlsafe(24)
        port = free_port()
        cmd = engines.command(self.engine, model.path, model.name, port, key, self.cfg["options"])
        self._log_dir.mkdir(parents=True, exist_ok=True)
        log = self._log_dir / f"engine-{model.name.replace('/', '_').replace(':', '_')}.log"
        with log.open("ab") as fh:
            proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        backend = Backend(proc, port, key, self.engine)
        deadline = time.time() + float(self.cfg.get("load_timeout", 120))
        import httpx

        while time.time() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"the {self.engine} process for {model.name} exited with {proc.returncode}; see {log}"
                )
            with contextlib.suppress(httpx.HTTPError):
                r = httpx.get(f"{backend.url}/v1/models", headers={"Authorization": f"Bearer {key}"}, timeout=1)
                if r.status_code == 200:
                    return backend
            time.sleep(0.1)
        backend.stop()
        raise RuntimeError(f"the {self.engine} process for {model.name} did not answer in time; see {log}")

    async def agent(self, model: Model) -> Any:
        """The in-process tool path for the model (llama-cpp-python, the router and grammar)."""
        if model.agent is not None:
            return model.agent
        async with self._lock:
            if model.agent is None:
                self._make_room(model, model.agent_bytes)
                model.agent = await asyncio.to_thread(self._load_agent, model)
                model.loaded_at = model.loaded_at or time.time()
        return model.agent

    def _load_agent(self, model: Model) -> Any:
        from edgeagent_cli.core.agent.runtime.local import LocalRuntime

        o = self.cfg["options"]
        llama = {"n_ctx": min(int(o["context"]), 8192), "n_threads": int(o["threads"]),
                 "n_gpu_layers": int(o["gpu_layers"]), "n_batch": int(o["batch"])}  # fmt: skip
        return LocalRuntime(model.path, llama, name=model.name, max_tokens=int(self.cfg.get("max_tokens", 512)))

    def unload(self, model: Model, why: str = "") -> None:
        if model.backend:
            model.backend.stop()
            model.backend = None
        if model.agent is not None:
            with model.agent_lock:
                model.agent.close()
                model.agent = None
        model.loaded_at = None

    def reap(self) -> list[str]:
        """Unload models idle for longer than the TTL; their names."""
        now = time.time()
        gone = []
        for m in self.models.values():
            if m.held_bytes and m.active == 0 and m.waiting == 0 and now - (m.last_used or now) > self.idle_ttl:
                self.unload(m, "idle")
                gone.append(m.name)
        return gone

    def close(self) -> None:
        for m in self.models.values():
            self.unload(m, "shutdown")

    def rss(self) -> dict[str, int]:
        import psutil

        out = {m.name: m.resident() for m in self.models.values() if m.backend}
        out[""] = int(psutil.Process(os.getpid()).memory_info().rss)
        return out

    def scrape(self) -> list[tuple[str, str]]:
        import httpx

        out = []
        for m in self.models.values():
            b = m.backend
            if b is None or b.engine != "llama-server" or b.proc.poll() is not None:
                continue
            with contextlib.suppress(httpx.HTTPError):
                r = httpx.get(f"{b.url}/metrics", headers={"Authorization": f"Bearer {b.key}"}, timeout=2)
                if r.status_code == 200:
                    out.append((m.name, r.text))
        return out


def _gib(n: int) -> str:
    return f"{n / 2**30:.2f} GiB" if n >= 2**30 else f"{n / 2**20:.0f} MiB"
