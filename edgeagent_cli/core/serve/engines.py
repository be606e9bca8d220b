"""The engines `edgeagent serve` runs a model with, behind its gateway, one process per loaded model.

- `llama-server`: llama.cpp's own server, built by `scripts/setup.sh` from the sources vendored in the
  llama-cpp-python sdist with the same flags (it lands in the virtual environment's bin/). Parallel
  slots with continuous batching: the default wherever it is installed (benchmarks/results/serve_engines.json).
- `llama-cpp`: llama-cpp-python's server (one request at a time), with chat templates rendered within
  edgeagent's budget; the fallback when llama-server is not built.
- `vllm` is not run behind the gateway: `serve start --engine vllm` hands the process over to vLLM.

A backend listens on 127.0.0.1 only, on a free port, with its own random API key: only the gateway
reaches it.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Any

from edgeagent_cli.core.errors import EdgeError, ExitCode

ENGINES = ("auto", "llama-server", "llama-cpp", "vllm")
LLAMA_CPP_SERVER_MODULE = "edgeagent_cli.core.serve.llama_cpp_server"


def llama_server_binary() -> str | None:
    """EDGEAGENT_LLAMA_SERVER, else the one setup.sh put beside this Python, else llama-server on PATH."""
    env = os.environ.get("EDGEAGENT_LLAMA_SERVER")
    if env:
        return env if os.access(env, os.X_OK) else None
    beside = Path(sys.executable).parent / "llama-server"
    if os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("llama-server")


def pick(engine: str) -> tuple[str, str | None]:
    """The engine to run and, when it was chosen for the user, why (a note for stderr)."""
    if engine not in ENGINES:
        raise EdgeError(f"unknown engine {engine!r}", f"use one of: {', '.join(ENGINES)}", ExitCode.USAGE)
    if engine == "llama-server" and llama_server_binary() is None:
        hint = "run scripts/setup.sh (it builds llama-server), set EDGEAGENT_LLAMA_SERVER, or use --engine llama-cpp"
        raise EdgeError("llama-server is not installed", hint, ExitCode.NOT_FOUND)
    if engine != "auto":
        return engine, None
    if llama_server_binary() is not None:
        return "llama-server", None
    note = "llama-server is not built here (scripts/setup.sh builds it): serving with llama-cpp-python, one request at a time"
    return "llama-cpp", note


def command(engine: str, model_path: Path, name: str, port: int, key: str, opts: dict[str, Any]) -> list[str]:
    """The backend's command line. `opts`: context (per request), parallel, threads, gpu_layers, batch,
    kv_cache_type, flash_attn, mlock."""
    parallel = max(1, int(opts["parallel"]))
    kv = str(opts["kv_cache_type"])
    flash = bool(opts["flash_attn"])
    if engine == "llama-server":
        fa = "auto" if opts["flash_attn"] is None else "on" if flash else "off"
        binary = llama_server_binary()
        if binary is None:
            raise EdgeError("llama-server is not installed", "run scripts/setup.sh", ExitCode.NOT_FOUND)
        # Each slot gets the whole context (-c is shared across slots), as Ollama does with NUM_PARALLEL.
        cmd = [binary, "-m", str(model_path), "--host", "127.0.0.1", "--port", str(port), "--alias", name]
        cmd += ["-c", str(int(opts["context"]) * parallel), "-np", str(parallel), "-t", str(opts["threads"])]
        cmd += ["-ngl", str(opts["gpu_layers"]), "-b", str(opts["batch"]), "--api-key", key, "--metrics"]
        cmd += ["--jinja", "--no-webui", "-fa", fa]
        if kv != "f16":
            cmd += ["-ctk", kv] + (["-ctv", kv] if flash else [])
        if opts.get("mlock"):
            cmd += ["--mlock"]
        return cmd
    if engine == "llama-cpp":
        import llama_cpp

        cmd = [sys.executable, "-m", LLAMA_CPP_SERVER_MODULE, "--model", str(model_path), "--host", "127.0.0.1"]
        cmd += ["--port", str(port), "--model_alias", name, "--api_key", key, "--interrupt_requests", "False"]
        cmd += ["--n_ctx", str(opts["context"]), "--n_threads", str(opts["threads"])]
        cmd += ["--n_gpu_layers", str(opts["gpu_layers"]), "--n_batch", str(opts["batch"])]
        cmd += ["--use_mlock", str(bool(opts.get("mlock"))), "--flash_attn", str(flash)]
        if kv != "f16":
            kind = str(getattr(llama_cpp, f"GGML_TYPE_{kv.upper()}"))
            cmd += ["--type_k", kind] + (["--type_v", kind] if flash else [])
        return cmd
    raise EdgeError(f"engine {engine!r} does not run behind the gateway", code=ExitCode.USAGE)


def slots(engine: str, parallel: int) -> int:
    """Requests a backend decodes at once."""
    return max(1, parallel) if engine == "llama-server" else 1
