"""`edgeagent chat`: the tool-using agent, as a REPL on a terminal or one-shot for scripts."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from edgeagent_cli.cli.options import (
    ApiKeyOpt,
    ChatTemplateOpt,
    CtxOpt,
    EndpointOpt,
    GpuLayersOpt,
    GrammarOpt,
    JsonOpt,
    OptionalModelArg,
    ProfileOpt,
    RouterOpt,
    ThreadsOpt,
    TrustTemplateOpt,
    VerboseOpt,
)
from edgeagent_cli.cli.output import Output, stdin_is_terminal
from edgeagent_cli.core.errors import EdgeError, ExitCode

PromptOpt = Annotated[
    str | None, typer.Option("--prompt", "-p", help="One-shot: ask this and exit (else stdin, else the REPL).")
]
ToolsOpt = Annotated[list[Path] | None, typer.Option("--tools", help="Python file whose typed functions become tools.")]
McpOpt = Annotated[
    list[str] | None, typer.Option("--mcp", help='MCP server over stdio, e.g. --mcp "python server.py".')
]
BuiltinsOpt = Annotated[bool, typer.Option("--builtins/--no-builtins", help="Offer the built-in tools.")]
AllowOpt = Annotated[
    list[str] | None, typer.Option("--allow-tool", help="Approve a tool that writes or reaches out (or 'all').")
]
WorkspaceOpt = Annotated[
    Path | None, typer.Option("--workspace", help="Directory the file tools are confined to (default: current).")
]
ToolChoiceOpt = Annotated[
    str, typer.Option("--tool-choice", help="auto, required, none, or a tool name to force on the first step.")
]
ExpectToolOpt = Annotated[str | None, typer.Option("--expect-tool", help="Exit 7 unless this tool was called.")]
MaxStepsOpt = Annotated[int, typer.Option("--max-steps", min=1, help="Model turns per question.")]
FallbackOpt = Annotated[
    str | None, typer.Option("--fallback-endpoint", help="Larger model for turns the small one fails.")
]
FallbackModelOpt = Annotated[str | None, typer.Option("--fallback-model", help="Model id at the fallback endpoint.")]
SystemOpt = Annotated[str | None, typer.Option("--system", help="System prompt.")]
MaxTokensOpt = Annotated[int, typer.Option("--max-tokens", min=1, help="Tokens per model turn.")]
DeploymentFileOpt = Annotated[
    str | None,
    typer.Option(
        "--deployment", help="Deployment YAML (or a shipped example's name): route each request to its agents."
    ),
]
StandInOpt = Annotated[
    str | None, typer.Option("--stand-in", help="With --deployment: run this stored model in place of every model.")
]


def chat(
    model: OptionalModelArg = None,
    prompt: PromptOpt = None,
    endpoint: EndpointOpt = None,
    api_key: ApiKeyOpt = None,
    tools_file: ToolsOpt = None,
    mcp: McpOpt = None,
    builtins: BuiltinsOpt = True,
    allow_tool: AllowOpt = None,
    workspace: WorkspaceOpt = None,
    tool_choice: ToolChoiceOpt = "auto",
    expect_tool: ExpectToolOpt = None,
    max_steps: MaxStepsOpt = 6,
    fallback_endpoint: FallbackOpt = None,
    fallback_model: FallbackModelOpt = None,
    system: SystemOpt = None,
    grammar: GrammarOpt = True,
    router: RouterOpt = True,
    max_tokens: MaxTokensOpt = 512,
    chat_template: ChatTemplateOpt = None,
    trust_template: TrustTemplateOpt = False,
    ctx: CtxOpt = None,
    threads: ThreadsOpt = None,
    gpu_layers: GpuLayersOpt = None,
    deployment: DeploymentFileOpt = None,
    stand_in: StandInOpt = None,
    profile: ProfileOpt = None,
    verbose: VerboseOpt = False,
    json_: JsonOpt = False,
) -> None:
    """Chat with a model that calls tools: calculator, time, workspace files, system info, yours, MCP.

    Examples:

      edgeagent chat

      edgeagent chat smollm2-135m --prompt "What is 17*23?" --expect-tool calculator --json

      edgeagent chat --endpoint http://127.0.0.1:11434 qwen2.5:0.5b --tools my_tools.py

      edgeagent chat --mcp "python weather_server.py" --allow-tool write_file

      edgeagent chat --deployment edge-assistant --stand-in smollm2-135m -p "Book a meeting on Monday at 15:00"
    """
    from edgeagent_cli.cli.settings import settings
    from edgeagent_cli.core.agent.runtime.open import RuntimeConfig
    from edgeagent_cli.core.agent.session import ChatConfig, open_session

    out = Output(json_)
    question = _question(prompt, json_)
    if deployment is not None:
        if model or endpoint or tools_file or mcp:
            raise EdgeError(
                "--deployment names its own models, endpoints and tools",
                "drop MODEL, --endpoint, --tools and --mcp, or drop --deployment",
                ExitCode.USAGE,
            )
        _deployment(out, deployment, stand_in, question, allow_tool or [], workspace, ctx, threads, profile, verbose)
        return
    if stand_in is not None:
        raise EdgeError("--stand-in needs --deployment", code=ExitCode.USAGE)
    cfg = ChatConfig(
        runtime=RuntimeConfig(model, endpoint, api_key, grammar, router, max_tokens, chat_template, trust_template),
        tools_files=tools_file or [],
        mcp=mcp or [],
        builtins=builtins,
        allow=allow_tool or [],
        workspace=workspace,
        tool_choice=tool_choice,
        max_steps=max_steps,
        fallback_endpoint=fallback_endpoint,
        fallback_model=fallback_model,
        system=system,
    )
    resolved = settings(out, verbose, profile, context=ctx, threads=threads, gpu_layers=gpu_layers)
    ask = _ask_terminal if not json_ and stdin_is_terminal() else None
    session = open_session(cfg, resolved, ask, out.info)
    try:
        if question is None:
            from edgeagent_cli.cli.repl import repl

            repl(session, out)
        else:
            _one_shot(out, session, question, expect_tool)
    finally:
        session.close()


def _deployment(
    out: Output,
    file: str,
    stand_in: str | None,
    question: str | None,
    allow: list[str],
    workspace: Path | None,
    ctx: int | None,
    threads: int | None,
    profile: str | None,
    verbose: bool,
) -> None:
    """Each request routed to one of the deployment's agents (Microsoft Agent Framework's workflow)."""
    from edgeagent_cli.cli.settings import deployment_settings
    from edgeagent_cli.core.agent.runtime.open import llama_kwargs
    from edgeagent_cli.core.deploy import run
    from edgeagent_cli.core.deploy.spec import load_deployment

    dep = load_deployment(file)
    resolved = deployment_settings(out, dep, verbose, profile, context=ctx, threads=threads)
    ask = _ask_terminal if not out.json_mode and stdin_is_terminal() else None
    where = run.where_for(dep, stand_in)
    if where.base_url:
        out.info(f"{dep.name} is up: its agents' models answer at {where.base_url}")
    session = run.open_session(dep, where, llama_kwargs(resolved), allow, ask, workspace, out.info)
    try:
        if question is not None:
            doc = _deployment_turn(out, session, question)
            if doc.failed:
                raise EdgeError(doc.failed, "see the transcript (--json)", data=doc)
            out.emit(doc, lambda o: o.line(doc.answer))
            return
        while (line := _read_line()) is not None:
            if line.strip():
                out.line(_deployment_turn(out, session, line).answer)
    finally:
        session.close()


def _deployment_turn(out: Output, session: Any, question: str) -> Any:
    from edgeagent_cli.core.agent.session import event_text

    doc = session.ask(question)
    r = doc.route
    out.info(f"~ router ({r['method']}, {r['seconds']:.2f} s): {r['agent']}")
    for c in doc.tool_calls:
        out.info(event_text("call", c))
        out.info(event_text("result", c))
    for h in doc.handoffs[1:]:
        out.info(f"~ {h['from']} handed off to {h['to']}: {h['reason']}")
    return doc


def _read_line() -> str | None:
    try:
        return input(">>> ")
    except EOFError:
        return None


def _question(prompt: str | None, json_: bool) -> str | None:
    """--prompt, else stdin when it is not a terminal; None means the REPL."""
    if prompt is None and not stdin_is_terminal():
        prompt = sys.stdin.read().strip() if sys.stdin is not None else ""
        if not prompt:
            raise EdgeError("no prompt: stdin was empty or closed", "pass --prompt TEXT", ExitCode.USAGE)
    if prompt is not None and not prompt.strip():
        raise EdgeError("--prompt is empty", "ask something", ExitCode.USAGE)
    if prompt is None and json_:
        raise EdgeError("--json needs a prompt", "pass --prompt TEXT or pipe the prompt on stdin", ExitCode.USAGE)
    return prompt


def _one_shot(out: Output, session: Any, question: str, expect_tool: str | None) -> None:
    from edgeagent_cli.core.agent.session import ask_once, event_text

    shown: list[str] = []

    def on_text(piece: str) -> None:
        shown.append(piece)
        out.stream(piece)

    try:
        doc = ask_once(
            session,
            question,
            expect_tool,
            None if out.json_mode else on_text,
            lambda kind, data: out.info(event_text(kind, data)),
        )
    finally:
        if shown:
            out.stream("\n")
    out.emit(doc)


def _ask_terminal(tool: Any, arguments: dict[str, Any]) -> bool:
    import json

    sys.stderr.write(f"run {tool.name} ({tool.risk}) with {json.dumps(arguments, ensure_ascii=False)[:300]}? [y/N] ")
    sys.stderr.flush()
    try:
        answer = input()
    except EOFError:
        return False
    return answer.strip().lower() in {"y", "yes"}
