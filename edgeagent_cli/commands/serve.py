"""`edgeagent serve`: llama.cpp's OpenAI-compatible server as a managed background process."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from edgeagent_cli.cli.options import (
    ApiKeyOpt,
    CtxOpt,
    GpuLayersOpt,
    JsonOpt,
    ModelArg,
    ProfileOpt,
    ThreadsOpt,
    TrustTemplateOpt,
    VerboseOpt,
)
from edgeagent_cli.cli.output import Output, human_bytes
from edgeagent_cli.core.errors import EdgeError, ExitCode

app = typer.Typer(help="Serve a model over an OpenAI-compatible API (start, status, logs, stop).", no_args_is_help=True)

HostOpt = Annotated[str, typer.Option("--host", help="Address to bind; non-loopback needs --api-key.")]
PortOpt = Annotated[int | None, typer.Option("--port", help="Port (default: a free one).")]
DeploymentOpt = Annotated[
    str | None,
    typer.Option("--deployment", help="Deployment profile (default: EDGEAGENT_DEPLOYMENT, else development)."),
]
EngineOpt = Annotated[str, typer.Option("--engine", help="llama-cpp (in this machine) or vllm.")]
ServerArg = Annotated[str | None, typer.Argument(help="Server name (default: all).")]


@app.command("start")
def start(
    model: ModelArg,
    host: HostOpt = "127.0.0.1",
    port: PortOpt = None,
    api_key: ApiKeyOpt = None,
    ctx: CtxOpt = None,
    threads: ThreadsOpt = None,
    gpu_layers: GpuLayersOpt = None,
    deployment: DeploymentOpt = None,
    engine: EngineOpt = "llama-cpp",
    profile: ProfileOpt = None,
    trust_template: TrustTemplateOpt = False,
    verbose: VerboseOpt = False,
    json_: JsonOpt = False,
) -> None:
    """Start a server for a stored model or a .gguf path; wait until it answers; print the base URL.

    Examples:

      edgeagent serve start smollm2-135m

      edgeagent serve start phi-4-mini --host 0.0.0.0 --port 8080 --api-key "$KEY" --deployment production

      edgeagent serve start Qwen/Qwen2.5-7B-Instruct --engine vllm --deployment production
    """
    from edgeagent_cli.cli.settings import settings
    from edgeagent_cli.core.serve import manager

    out = Output(json_)
    if engine == "vllm":
        _exec_vllm(model, deployment or os.environ.get("EDGEAGENT_DEPLOYMENT") or "development", host, port, api_key)
    if engine != "llama-cpp":
        raise EdgeError(f"unknown engine {engine!r}", "use llama-cpp or vllm", ExitCode.USAGE)
    from edgeagent_cli.core.agent.runtime.open import preflight_template
    from edgeagent_cli.core.models.store import resolve_model

    flags = {"context": ctx, "threads": threads, "gpu_layers": gpu_layers}
    resolved = settings(out, verbose, profile, deployment, default_deployment="development", **flags)
    if int(resolved["parallel"]) > 1:
        out.warn(
            f"parallel={resolved['parallel']} ({resolved.source('parallel')}) is not applied: llama-cpp-python's "
            "server answers one request at a time (--engine vllm serves in parallel)"
        )
    manager.check_access(host, api_key, resolved)
    path, rec = resolve_model(model)
    preflight_template(path, rec.name if rec else path.name, trust_template)
    st = manager.start(rec.name if rec else path.stem, path, host, port, api_key, resolved)
    word = "already running" if st.already_running else "serving"
    out.emit(st, lambda o: o.line(f"{word} {st.model} at {st.base_url} (pid {st.pid})"))


def _exec_vllm(model: str, deployment: str, host: str, port: int | None, api_key: str | None) -> None:
    """Hand over to `vllm serve` (this process becomes vLLM), or say how to run it elsewhere."""
    import shlex
    import shutil

    from edgeagent_cli.core import profiles
    from edgeagent_cli.core.serve.vllm import vllm_command

    dep = profiles.get(deployment, "deployment")
    cmd = vllm_command(model, dep.data, host, port or 8000, api_key)
    if shutil.which("vllm") is None:
        raise EdgeError(
            "vllm is not installed on this machine", f"run on a GPU server: {shlex.join(cmd)}", ExitCode.NOT_FOUND
        )
    if dep.get("api_key_required") and not api_key:
        raise EdgeError(f"deployment profile {dep.name} requires an API key", "pass --api-key", ExitCode.USAGE)
    os.execvp(cmd[0], cmd)


@app.command("status")
def status(json_: JsonOpt = False) -> None:
    """Running servers: health, model, uptime, resident memory.

    Examples:

      edgeagent serve status

      edgeagent serve status --json
    """
    from edgeagent_cli.core.serve import manager

    out = Output(json_)
    listing = manager.status()

    def human(o: Output) -> None:
        if not listing.servers:
            o.line("no servers running")
            return
        rows = [
            (
                s["model"],
                s["base_url"],
                s["pid"],
                "yes" if s["healthy"] else "no",
                f"{s['uptime_s']:.0f} s",
                human_bytes(s["rss_bytes"]),
            )
            for s in listing.servers
        ]
        o.table(["model", "base URL", "pid", "healthy", "uptime", "RSS"], rows)

    out.emit(listing, human)


@app.command("stop")
def stop(model: ServerArg = None, json_: JsonOpt = False) -> None:
    """Stop servers (SIGTERM, then SIGKILL); also cleans state left by a process that died.

    Examples:

      edgeagent serve stop

      edgeagent serve stop smollm2-135m:Q4_1
    """
    from edgeagent_cli.core.serve import manager

    out = Output(json_)
    stopped = manager.stop(model)
    out.emit(stopped, lambda o: o.line(f"stopped {len(stopped.stopped)} server(s)"))


@app.command("logs")
def logs(
    model: Annotated[str | None, typer.Argument(help="Server name (default: the only one running).")] = None,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing new lines.")] = False,
    lines: Annotated[int, typer.Option("--lines", "-n", help="Lines to show.")] = 50,
    json_: JsonOpt = False,
) -> None:
    """Show a server's log.

    Examples:

      edgeagent serve logs

      edgeagent serve logs smollm2-135m:Q4_1 -f
    """
    from edgeagent_cli.core.serve import manager

    out = Output(json_)
    tail = manager.log_tail(model, lines)

    def show(o: Output) -> None:
        for t in tail.lines:
            o.line(t)

    out.emit(tail, show)
    if follow and not json_:
        _follow(out, tail.log)


def _follow(out: Output, log: str) -> None:
    import time

    with open(log, errors="replace") as f:
        f.seek(0, 2)
        try:
            while True:
                line = f.readline()
                if line:
                    out.stream(line)
                else:
                    time.sleep(0.3)
        except KeyboardInterrupt:
            raise typer.Exit(0) from None
