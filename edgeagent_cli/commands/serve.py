"""`edgeagent serve`: llama.cpp's OpenAI-compatible server as a managed background process."""

from __future__ import annotations

import os
from typing import Annotated, Any

import typer

from edgeagent_cli.cli.options import (
    ApiKeyOpt,
    CtxOpt,
    GpuLayersOpt,
    JsonOpt,
    MaxMemoryOpt,
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
EngineOpt = Annotated[
    str,
    typer.Option("--engine", help="auto (llama-server when built, else llama-cpp), llama-server, llama-cpp or vllm."),
]
ServerArg = Annotated[str | None, typer.Argument(help="Server name (default: all).")]
ModelsArg = Annotated[list[str], typer.Argument(help="Stored model names or .gguf paths, served under one base URL.")]


@app.command("start")
def start(
    models: ModelsArg,
    host: HostOpt = "127.0.0.1",
    port: PortOpt = None,
    api_key: ApiKeyOpt = None,
    ctx: CtxOpt = None,
    threads: ThreadsOpt = None,
    gpu_layers: GpuLayersOpt = None,
    parallel: Annotated[
        int | None, typer.Option("--parallel", "-np", min=1, help="Requests decoded at once per model (slots).")
    ] = None,
    max_memory: MaxMemoryOpt = None,
    idle_ttl: Annotated[
        float, typer.Option("--idle-ttl", min=1, help="Seconds a model stays loaded without a request.")
    ] = 600.0,
    engine: EngineOpt = "auto",
    name: Annotated[str | None, typer.Option("--name", help="Server name (default: the models' names).")] = None,
    cors_origin: Annotated[
        list[str] | None, typer.Option("--cors-origin", help="An origin browsers may call from (repeatable).")
    ] = None,
    allow_host: Annotated[
        list[str] | None,
        typer.Option("--allow-host", help="Another name clients may reach this server by (repeatable)."),
    ] = None,
    metrics_key: Annotated[
        str | None,
        typer.Option("--metrics-key", envvar="EDGEAGENT_METRICS_KEY", help="A key that may read /metrics only."),
    ] = None,
    max_body: Annotated[str, typer.Option("--max-body", help="Largest request body (413 above).")] = "8MiB",
    request_timeout: Annotated[
        float, typer.Option("--request-timeout", min=1, help="Seconds a request may run.")
    ] = 600.0,
    deployment: DeploymentOpt = None,
    profile: ProfileOpt = None,
    trust_template: TrustTemplateOpt = False,
    verbose: VerboseOpt = False,
    json_: JsonOpt = False,
) -> None:
    """Serve stored models (or .gguf paths) under one OpenAI-compatible base URL; wait until it answers.

    Each model loads on its first request and unloads after --idle-ttl; the fit estimates must hold
    within the memory budget (--max-memory, else the profile's), least recently used idle models
    making room. Requests with tools go through edgeagent's own tool path. GET /metrics is Prometheus.

    Examples:

      edgeagent serve start smollm2-135m

      edgeagent serve start router-model specialist-model --max-memory 4GB --idle-ttl 300

      edgeagent serve start phi-4-mini --host 0.0.0.0 --port 8080 --api-key "$KEY" --deployment production

      edgeagent serve start Qwen/Qwen2.5-7B-Instruct --engine vllm --deployment production
    """
    import re

    from edgeagent_cli.cli.settings import settings
    from edgeagent_cli.core.serve import engines, manager
    from edgeagent_cli.core.settings import parse_size

    out = Output(json_)
    if engine == "vllm":
        if len(models) != 1:
            raise EdgeError("--engine vllm serves one model", "start one vLLM server per model", ExitCode.USAGE)
        dep = deployment or os.environ.get("EDGEAGENT_DEPLOYMENT") or "development"
        _exec_vllm(models[0], dep, host, port, api_key)
    chosen, note = engines.pick(engine)
    for origin in cors_origin or []:
        if not re.fullmatch(r"https?://[^/\s*]+", origin):
            raise EdgeError(
                f"invalid --cors-origin {origin!r}", "give a scheme and host: https://app.example.com", ExitCode.USAGE
            )
    body_limit = parse_size(max_body)
    budget = parse_size(max_memory) if max_memory else None
    from edgeagent_cli.core.agent.runtime.open import preflight_template
    from edgeagent_cli.core.models.store import resolve_model

    flags: dict[str, Any] = {
        "context": ctx,
        "threads": threads,
        "gpu_layers": gpu_layers,
        "parallel": parallel,
        "max_memory": budget,
    }
    resolved = settings(out, verbose, profile, deployment, default_deployment="development", **flags)
    manager.check_access(host, api_key, resolved)
    if note:
        out.warn(note)
    served = []
    for ref in dict.fromkeys(models):
        path, rec = resolve_model(ref)
        model_name = rec.name if rec else path.stem
        preflight_template(path, model_name, trust_template)
        served.append(manager.served(model_name, path, resolved, chosen))
    opts = manager.Options(chosen, host, port, api_key, metrics_key, cors_origin or [], allow_host or [], idle_ttl,
                           body_limit, request_timeout)  # fmt: skip
    st = manager.start(name or "+".join(m.name for m in served), served, opts, resolved)
    word = "already running" if st.already_running else "serving"
    out.emit(st, lambda o: o.line(f"{word} {', '.join(st.models or [])} at {st.base_url} ({st.engine}, pid {st.pid})"))


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
    """Running servers and each model they serve: loaded or not, resident memory, requests, last use.

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
        for s in listing.servers:
            health = "healthy" if s["healthy"] else "NOT ANSWERING"
            budget = f", budget {human_bytes(s['budget_bytes'])}" if s.get("budget_bytes") else ""
            o.line(f"{s['name']}: {s['base_url']} ({s.get('engine') or '?'}, pid {s['pid']}, {health}, "
                   f"up {s['uptime_s']:.0f} s, RSS {human_bytes(s['rss_bytes'])}{budget})")  # fmt: skip
            rows = [
                (m["id"], m["state"], human_bytes(m["resident_bytes"]) if m["resident_bytes"] else "-",
                 m["requests"], _ago(m["last_used"]))
                for m in s["served"]
            ]  # fmt: skip
            o.table(["model", "state", "resident", "requests", "last used"], rows)

    out.emit(listing, human)


def _ago(when: float | None) -> str:
    import time

    return "never" if not when else f"{time.time() - when:.0f} s ago"


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
