"""`edgeagent chat`: the tool-using agent, as a REPL on a terminal or one-shot for scripts."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from edgeagent_cli.errors import EdgeError, ExitCode
from edgeagent_cli.options import ApiKeyOpt, CtxOpt, EndpointOpt, GpuLayersOpt, JsonOpt, OptionalModelArg, ThreadsOpt
from edgeagent_cli.output import Output, stdin_is_terminal

ChatTemplateOpt = Annotated[
    Path | None, typer.Option("--chat-template", help="Jinja chat template file to use instead of the model's.")
]
ToolChoiceOpt = Annotated[
    str, typer.Option("--tool-choice", help="auto, required, none, or a tool name to force on the first step.")
]


def chat(
    model: OptionalModelArg = None,
    prompt: Annotated[str | None, typer.Option("--prompt", "-p", help="One-shot: ask this and exit (else stdin, else the REPL).")] = None,
    endpoint: EndpointOpt = None,
    api_key: ApiKeyOpt = None,
    tools_file: Annotated[list[Path] | None, typer.Option("--tools", help="Python file whose typed functions become tools.")] = None,
    mcp: Annotated[list[str] | None, typer.Option("--mcp", help='MCP server over stdio, e.g. --mcp "python server.py".')] = None,
    builtins: Annotated[bool, typer.Option("--builtins/--no-builtins", help="Offer the built-in tools.")] = True,
    allow_tool: Annotated[list[str] | None, typer.Option("--allow-tool", help="Approve a tool that writes or reaches out (or 'all').")] = None,
    workspace: Annotated[Path | None, typer.Option("--workspace", help="Directory the file tools are confined to (default: current).")] = None,
    tool_choice: ToolChoiceOpt = "auto",
    expect_tool: Annotated[str | None, typer.Option("--expect-tool", help="Exit 7 unless this tool was called.")] = None,
    max_steps: Annotated[int, typer.Option("--max-steps", min=1, help="Model turns per question.")] = 6,
    fallback_endpoint: Annotated[str | None, typer.Option("--fallback-endpoint", help="Larger model for turns the small one fails.")] = None,
    fallback_model: Annotated[str | None, typer.Option("--fallback-model", help="Model id at the fallback endpoint.")] = None,
    system: Annotated[str | None, typer.Option("--system", help="System prompt.")] = None,
    grammar: Annotated[bool, typer.Option("--grammar/--no-grammar", help="Constrain tool calls with a grammar (in-process).")] = True,
    router: Annotated[bool, typer.Option("--router/--no-router", help="Choose the tool by scoring (small models without a tool template).")] = True,
    max_tokens: Annotated[int, typer.Option("--max-tokens", min=1, help="Tokens per model turn.")] = 512,
    chat_template: ChatTemplateOpt = None,
    ctx: CtxOpt = None,
    threads: ThreadsOpt = None,
    gpu_layers: GpuLayersOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Chat with a model that calls tools: calculator, time, workspace files, system info, yours, MCP.

    Examples:

      edgeagent chat

      edgeagent chat smollm2-135m --prompt "What is 17*23?" --expect-tool calculator --json

      edgeagent chat --endpoint http://127.0.0.1:11434 qwen2.5:0.5b --tools my_tools.py

      edgeagent chat --mcp "python weather_server.py" --allow-tool write_file
    """
    out = Output(json_)
    question = prompt
    if question is None and not stdin_is_terminal():
        question = sys.stdin.read().strip()
        if not question:
            raise EdgeError("no prompt: stdin was empty", "pass --prompt TEXT", ExitCode.USAGE)
    interactive = question is None
    if interactive and json_:
        raise EdgeError("--json needs a prompt", "pass --prompt TEXT or pipe the prompt on stdin", ExitCode.USAGE)
    session = open_session(out, model, endpoint, api_key, tools_file or [], mcp or [], builtins, allow_tool or [],
                           workspace, tool_choice, max_steps, fallback_endpoint, fallback_model, system, grammar,
                           router, max_tokens, ctx, threads, gpu_layers, chat_template,
                           ask=not json_ and stdin_is_terminal())  # fmt: skip
    try:
        if interactive:
            from edgeagent_cli.commands.repl import repl

            repl(session, out)
            return
        _one_shot(out, session, question or "", expect_tool)
    finally:
        session.close()


class Session:
    """What a chat holds: the agent, its runtimes and tools, and how long loading took."""

    def __init__(self, agent: Any, runtime: Any, toolbox: Any, load_seconds: float) -> None:
        self.agent = agent
        self.runtime = runtime
        self.toolbox = toolbox
        self.load_seconds = load_seconds

    def close(self) -> None:
        self.toolbox.close()
        for rt in (self.runtime, self.agent.fallback):
            if rt is not None:
                rt.close()


def open_session(out: Output, model: str | None, endpoint: str | None, api_key: str | None, tools_files: list[Path],
                 mcp: list[str], builtins: bool, allow: list[str], workspace: Path | None, tool_choice: str,
                 max_steps: int, fallback_endpoint: str | None, fallback_model: str | None, system: str | None,
                 grammar: bool, router: bool, max_tokens: int, ctx: int | None, threads: int | None,
                 gpu_layers: int | None, chat_template: Path | None, ask: bool) -> Session:  # fmt: skip
    from edgeagent_cli.core.agent import Agent
    from edgeagent_cli.core.tools.policy import Approver

    toolbox = _toolbox(builtins, tools_files, mcp, workspace or Path.cwd())
    try:
        names = toolbox.names()
        if tool_choice not in {"auto", "required", "none", *names}:
            raise EdgeError(f"--tool-choice {tool_choice!r} is not auto, required, none or a tool",
                            f"tools: {', '.join(names) or 'none'}", ExitCode.USAGE)  # fmt: skip
        t0 = time.perf_counter()
        from edgeagent_cli.core.runtime import open_runtime

        runtime = open_runtime(model, endpoint, api_key, grammar=grammar, router=router, max_tokens=max_tokens, ctx=ctx,
                               threads=threads, gpu_layers=gpu_layers, chat_template=chat_template, on_info=out.info)  # fmt: skip
        fallback = None
        if fallback_endpoint:
            from edgeagent_cli.core.runtime.endpoint import EndpointRuntime

            fallback = EndpointRuntime(fallback_endpoint, api_key, fallback_model, max_tokens=max_tokens)
        load = time.perf_counter() - t0
    except BaseException:
        toolbox.close()
        raise
    approver = Approver(set(allow), _ask_terminal if ask else None)
    agent = Agent(runtime, toolbox, approver, fallback=fallback, max_steps=max_steps, tool_choice=tool_choice,
                  system=system)  # fmt: skip
    return Session(agent, runtime, toolbox, load)


def _toolbox(builtins: bool, files: list[Path], mcp: list[str], workspace: Path) -> Any:
    from edgeagent_cli.core.tools import Toolbox

    box = Toolbox()
    try:
        if builtins:
            from edgeagent_cli.core.tools.builtin import builtin_tools

            if not workspace.is_dir():
                raise EdgeError(f"workspace {workspace} is not a directory", code=ExitCode.NOT_FOUND)
            for t in builtin_tools(workspace):
                box.add(t)
        for f in files:
            from edgeagent_cli.core.tools.pyfile import load_tools

            for t in load_tools(f):
                box.add(t)
        for command in mcp:
            from edgeagent_cli.core.tools import mcp_stdio

            server, tools = mcp_stdio.connect(command)
            box.on_close(server.close)
            for t in tools:
                box.add(t)
    except ValueError as e:  # a name clash between sources
        box.close()
        raise EdgeError(str(e), "rename one of the tools", ExitCode.USAGE) from e
    except BaseException:
        box.close()
        raise
    return box


def _ask_terminal(tool: Any, arguments: dict[str, Any]) -> bool:
    import json

    sys.stderr.write(f"run {tool.name} ({tool.risk}) with {json.dumps(arguments, ensure_ascii=False)[:300]}? [y/N] ")
    sys.stderr.flush()
    try:
        answer = input()
    except EOFError:
        return False
    return answer.strip().lower() in {"y", "yes"}


def _one_shot(out: Output, session: Session, question: str, expect_tool: str | None) -> None:
    agent = session.agent
    streamed = not out.json_mode

    def on_text(piece: str) -> None:
        sys.stdout.write(piece)
        sys.stdout.flush()

    def on_event(kind: str, data: dict[str, Any]) -> None:
        out.info(_event_line(kind, data))

    try:
        outcome = agent.ask(question, on_text if streamed else None, on_event)
    except EdgeError as e:  # a refused approval: the transcript so far still belongs in the document
        e.data = {**transcript(session, agent.current), **(e.data or {})}
        raise
    if streamed and outcome.answer:
        sys.stdout.write("\n")
    doc = transcript(session, outcome)
    called = {c["name"] for c in outcome.calls}
    if expect_tool and expect_tool not in called:
        raise EdgeError(f"the model did not call {expect_tool} (called: {', '.join(sorted(called)) or 'nothing'})",
                        code=ExitCode.GATE, data=doc)  # fmt: skip
    if outcome.failed:
        raise EdgeError(outcome.failed, "try --max-steps, --tool-choice, or a --fallback-endpoint", data=doc)
    out.document(doc)


def transcript(session: Session, outcome: Any) -> dict[str, Any]:
    agent = session.agent
    return {
        "model": agent.runtime.name,
        "messages": agent.messages,
        "tool_calls": outcome.calls,
        "answer": outcome.answer,
        "failed": outcome.failed,
        "usage": {"prompt_tokens": outcome.prompt_tokens, "completion_tokens": outcome.completion_tokens},
        "timings": {"load_s": round(session.load_seconds, 4), "total_s": round(outcome.total_seconds, 4),
                    "model_s": round(outcome.model_seconds, 4), "tools_s": round(outcome.tool_seconds, 4),
                    "agent_s": round(outcome.agent_seconds, 6), "steps": outcome.steps},
    }  # fmt: skip


def _event_line(kind: str, data: dict[str, Any]) -> str:
    import json

    if kind == "call":
        return f"-> {data['name']} {json.dumps(data['arguments'], ensure_ascii=False)}"
    if kind == "result":
        body = data["result"] if data["error"] is None else f"error: {data['error']}"
        body = (body or "").replace("\n", " ")
        return f"<- {data['name']} [{data['approved']}] {body[:200]}"
    if kind == "fallback":
        return f"~ falling back to {data['model']}: {data['reason']}"
    if kind == "retry":
        return f"~ told the model: {data['reason']}"
    return f"~ {kind}: {data}"
