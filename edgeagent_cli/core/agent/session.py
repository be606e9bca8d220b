"""A chat session: the agent, its runtimes and tools, opened from one ChatConfig and closed as one.

The REPL and one-shot chat both hold a Session; the transcript (a typed result) and the one-line
descriptions of tool events are built here so that both show the same thing.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeagent_cli.core.agent.loop import Agent, OnEvent, Outcome
from edgeagent_cli.core.agent.runtime import OnText, Runtime
from edgeagent_cli.core.agent.runtime.open import RuntimeConfig
from edgeagent_cli.core.agent.tools import Tool, Toolbox
from edgeagent_cli.core.errors import EdgeError, ExitCode, Interrupted
from edgeagent_cli.core.results import Result
from edgeagent_cli.core.settings import Settings

Ask = Callable[[Tool, dict[str, Any]], bool]


@dataclass
class ChatConfig:
    """Everything `edgeagent chat` was asked for, beside the resolved settings."""

    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)
    tools_files: list[Path] = field(default_factory=list)
    mcp: list[str] = field(default_factory=list)
    builtins: bool = True
    allow: list[str] = field(default_factory=list)
    workspace: Path | None = None
    tool_choice: str = "auto"
    max_steps: int = 6
    fallback_endpoint: str | None = None
    fallback_model: str | None = None
    system: str | None = None


@dataclass
class Transcript(Result):
    """One question's conversation: messages, tool calls, the answer, tokens and where the time went."""

    model: str
    messages: list[dict[str, Any]]
    tool_calls: list[dict[str, Any]]
    answer: str
    failed: str | None
    usage: dict[str, int]
    timings: dict[str, Any]
    settings: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)  # how the model was prompted, where it matters


class Session:
    """What a chat holds: the agent, its runtimes and tools, and how long loading took."""

    def __init__(self, agent: Agent, toolbox: Toolbox, load_seconds: float, settings: Settings | None = None) -> None:
        self.agent = agent
        self.toolbox = toolbox
        self.load_seconds = load_seconds
        self.settings = settings

    @property
    def runtime(self) -> Runtime:
        return self.agent.runtime

    def transcript(self, outcome: Outcome | None = None) -> Transcript:
        o = outcome or self.agent.current
        return Transcript(
            model=self.agent.runtime.name,
            messages=self.agent.messages,
            tool_calls=o.calls,
            answer=o.answer,
            failed=o.failed,
            usage={"prompt_tokens": o.prompt_tokens, "completion_tokens": o.completion_tokens},
            timings={
                "load_s": round(self.load_seconds, 4),
                "total_s": round(o.total_seconds, 4),
                "model_s": round(o.model_seconds, 4),
                "tools_s": round(o.tool_seconds, 4),
                "agent_s": round(o.agent_seconds, 6),
                "steps": o.steps,
            },
            settings=self.settings.to_dict() if self.settings else None,
            notes=list(getattr(self.agent.runtime, "notes", [])),
        )

    def close(self) -> None:
        self.toolbox.close()
        for rt in (self.agent.runtime, self.agent.fallback):
            if rt is not None:
                rt.close()


def build_toolbox(builtins: bool, files: list[Path], mcp: list[str], workspace: Path) -> Toolbox:
    """Built-ins confined to the workspace, then Python-file tools, then MCP servers; closed on failure."""
    box = Toolbox()
    try:
        if builtins:
            from edgeagent_cli.core.agent.tools.builtin import builtin_tools

            if not workspace.is_dir():
                raise EdgeError(f"workspace {workspace} is not a directory", code=ExitCode.NOT_FOUND)
            for t in builtin_tools(workspace):
                box.add(t)
        for f in files:
            from edgeagent_cli.core.agent.tools.pyfile import load_tools

            for t in load_tools(f):
                box.add(t)
        for command in mcp:
            from edgeagent_cli.core.agent.tools import mcp_stdio

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


def open_session(
    cfg: ChatConfig, settings: Settings, ask: Ask | None = None, on_info: Callable[[str], None] | None = None
) -> Session:
    """Tools first (a bad --tool-choice fails before a model loads), then the runtime and the fallback."""
    from edgeagent_cli.core.agent.runtime.open import open_runtime
    from edgeagent_cli.core.agent.tools.policy import Approver

    toolbox = build_toolbox(cfg.builtins, cfg.tools_files, cfg.mcp, cfg.workspace or Path.cwd())
    try:
        names = toolbox.names()
        if cfg.tool_choice not in {"auto", "required", "none", *names}:
            raise EdgeError(
                f"--tool-choice {cfg.tool_choice!r} is not auto, required, none or a tool",
                f"tools: {', '.join(names) or 'none'}",
                ExitCode.USAGE,
            )
        t0 = time.perf_counter()
        runtime = open_runtime(cfg.runtime, settings, on_info)
        fallback = None
        if cfg.fallback_endpoint:
            from edgeagent_cli.core.agent.runtime.endpoint import EndpointRuntime

            fallback = EndpointRuntime(
                cfg.fallback_endpoint, cfg.runtime.api_key, cfg.fallback_model, max_tokens=cfg.runtime.max_tokens
            )
        load = time.perf_counter() - t0
    except BaseException:
        toolbox.close()
        raise
    agent = Agent(
        runtime,
        toolbox,
        Approver(set(cfg.allow), ask),
        fallback=fallback,
        max_steps=cfg.max_steps,
        tool_choice=cfg.tool_choice,
        system=cfg.system,
    )
    return Session(agent, toolbox, load, settings)


def ask_once(
    session: Session, question: str, expect_tool: str | None, on_text: OnText | None, on_event: OnEvent
) -> Transcript:
    """One question for scripts: the transcript, or an EdgeError that carries it (exit 7 when
    `expect_tool` was not called, exit 1 when there is no answer, the approval error as raised)."""
    try:
        outcome = session.agent.ask(question, on_text, on_event)
    except EdgeError as e:  # a refused approval: the transcript so far still belongs in the document
        e.data = session.transcript()
        raise
    except KeyboardInterrupt:
        raise Interrupted(session.transcript(), "interrupted") from None
    doc = session.transcript(outcome)
    called = {c["name"] for c in outcome.calls}
    if expect_tool and expect_tool not in called:
        raise EdgeError(
            f"the model did not call {expect_tool} (called: {', '.join(sorted(called)) or 'nothing'})",
            code=ExitCode.GATE,
            data=doc,
        )
    if outcome.failed:
        raise EdgeError(outcome.failed, "try --max-steps, --tool-choice, or a --fallback-endpoint", data=doc)
    return doc


def event_text(kind: str, data: dict[str, Any]) -> str:
    """One line for a tool event, as chat shows it on stderr: `-> calculator {...}`, `<- calculator [auto] ...`."""
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
