"""`edgeagent serve`: llama.cpp's OpenAI-compatible server as a managed background process."""

from __future__ import annotations

import shlex
import shutil
from typing import Annotated

import typer

from edgeagent_cli.errors import EdgeError, ExitCode
from edgeagent_cli.options import ApiKeyOpt, CtxOpt, GpuLayersOpt, JsonOpt, ModelArg, ThreadsOpt
from edgeagent_cli.output import Output, human_bytes

app = typer.Typer(help="Serve a model over an OpenAI-compatible API (start, status, logs, stop).", no_args_is_help=True)


@app.command("start")
def start(
    model: ModelArg,
    host: Annotated[str, typer.Option("--host", help="Address to bind; non-loopback needs --api-key.")] = "127.0.0.1",
    port: Annotated[int | None, typer.Option("--port", help="Port (default: a free one).")] = None,
    api_key: ApiKeyOpt = None,
    ctx: CtxOpt = None,
    threads: ThreadsOpt = None,
    gpu_layers: GpuLayersOpt = None,
    deployment: Annotated[str, typer.Option("--deployment", help="Deployment profile.")] = "development",
    engine: Annotated[str, typer.Option("--engine", help="llama-cpp (in this machine) or vllm.")] = "llama-cpp",
    json_: JsonOpt = False,
) -> None:
    """Start a server for a stored model or a .gguf path; wait until it answers; print the base URL.

    Examples:

      edgeagent serve start smollm2-135m

      edgeagent serve start phi-4-mini --host 0.0.0.0 --port 8080 --api-key "$KEY" --deployment production

      edgeagent serve start Qwen/Qwen2.5-7B-Instruct --engine vllm --deployment production
    """
    from edgeagent_cli.core import hardware, profiles, serve, survey

    out = Output(json_)
    dep = profiles.get(deployment, "deployment")
    if engine == "vllm":
        cmd = serve.vllm_command(model, dep.data, host, port or 8000, api_key)
        if shutil.which("vllm") is None:
            raise EdgeError("vllm is not installed on this machine", f"run on a GPU server: {shlex.join(cmd)}", ExitCode.NOT_FOUND)
        import os

        os.execvp(cmd[0], cmd)
    if engine != "llama-cpp":
        raise EdgeError(f"unknown engine {engine!r}", "use llama-cpp or vllm", ExitCode.USAGE)
    from edgeagent_cli.core.store import resolve_model

    path, rec = resolve_model(model)
    rec_threads = survey.threads_for(hardware.detect_cpu())
    st, existing = serve.start(rec.name if rec else path.stem, path, host, port, api_key, ctx or int(dep.get("context", 4096)),
                               threads or rec_threads, gpu_layers or 0, int(dep.get("parallel", 1)))  # fmt: skip
    doc = {"base_url": st["base_url"], "pid": st["pid"], "model": st["model"], "port": st["port"], "log": st["log"],
           "already_running": existing}  # fmt: skip
    out.document(doc, lambda o: o.line(f"{'already running' if existing else 'serving'} {st['model']} at {st['base_url']} (pid {st['pid']})"))


@app.command("status")
def status(json_: JsonOpt = False) -> None:
    """Running servers: health, model, uptime, resident memory.

    Examples:

      edgeagent serve status

      edgeagent serve status --json
    """
    from edgeagent_cli.core import serve

    out = Output(json_)
    rows = serve.status()
    out.document({"servers": rows}, lambda o: o.table(
        ["model", "base URL", "pid", "healthy", "uptime", "RSS"],
        [(s["model"], s["base_url"], s["pid"], "yes" if s["healthy"] else "no", f"{s['uptime_s']:.0f} s", human_bytes(s["rss_bytes"]))
         for s in rows]) if rows else o.line("no servers running"))  # fmt: skip


@app.command("stop")
def stop(
    model: Annotated[str | None, typer.Argument(help="Server name (default: all).")] = None,
    json_: JsonOpt = False,
) -> None:
    """Stop servers (SIGTERM, then SIGKILL); also cleans state left by a process that died.

    Examples:

      edgeagent serve stop

      edgeagent serve stop smollm2-135m:Q4_1
    """
    from edgeagent_cli.core import serve

    out = Output(json_)
    stopped = serve.stop(model)
    out.document({"stopped": [s["name"] for s in stopped]}, lambda o: o.line(f"stopped {len(stopped)} server(s)"))


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
    import sys
    import time
    from pathlib import Path

    from edgeagent_cli.core import serve

    out = Output(json_)
    running = [s for s in serve.states() if model is None or s["name"] == model]
    if not running:
        raise EdgeError("no such server running", "see `edgeagent serve status`", ExitCode.NOT_FOUND)
    log = Path(running[0]["log"])
    text = log.read_text(errors="replace").splitlines()[-lines:]
    def show(o: Output) -> None:
        for t in text:
            o.line(t)

    out.document({"log": str(log), "lines": text}, show)
    if follow and not json_:
        with log.open(errors="replace") as f:
            f.seek(0, 2)
            try:
                while True:
                    line = f.readline()
                    if line:
                        sys.stdout.write(line)
                        sys.stdout.flush()
                    else:
                        time.sleep(0.3)
            except KeyboardInterrupt:
                raise typer.Exit(0) from None
