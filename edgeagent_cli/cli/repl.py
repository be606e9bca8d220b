"""The interactive chat: streaming answers, history across runs, multi-line input, slash commands.

Ctrl-C during an answer cancels that answer only (the question and anything it produced are taken
back out of the conversation); Ctrl-C at the prompt clears the line; Ctrl-D or /exit leaves.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from edgeagent_cli.cli.output import Output
from edgeagent_cli.core import paths
from edgeagent_cli.core.agent.loop import Outcome
from edgeagent_cli.core.agent.session import Session, event_text
from edgeagent_cli.core.errors import EdgeError

HELP = """commands:
  /help          this help
  /tools         the tools the model can call, with their risk level
  /reset         forget the conversation
  /save FILE     write the conversation as JSON
  /model         the model (and fallback) answering
  /exit          leave (or Ctrl-D)
multi-line input: end a line with \\ to continue it, or wrap lines in triple quotes.
Ctrl-C cancels the current answer and keeps the session."""


def _setup_history() -> Any:
    try:
        import readline
    except ImportError:  # Windows without pyreadline: input() still works, without history
        return None
    path = paths.home() / "chat_history"
    try:
        readline.read_history_file(path)
    except OSError:
        pass
    readline.set_history_length(1000)
    return readline, path


def _save_history(state: Any) -> None:
    if state is None:
        return
    readline, path = state
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        readline.write_history_file(path)
    except OSError:
        pass


def _read_question() -> str | None:
    """One question, possibly several lines; None at end of input."""
    try:
        line = input(">>> ")
    except EOFError:
        return None
    if line.strip().startswith('"""'):
        lines = [line.strip()[3:]]
        while not lines[-1].rstrip().endswith('"""'):
            try:
                lines.append(input("... "))
            except EOFError:
                break
        lines[-1] = lines[-1].rstrip().removesuffix('"""')
        return "\n".join(lines).strip()
    lines = [line]
    while lines[-1].endswith("\\"):
        lines[-1] = lines[-1][:-1]
        try:
            lines.append(input("... "))
        except EOFError:
            break
    return "\n".join(lines).strip()


def repl(session: Session, out: Output) -> None:
    agent = session.agent
    history = _setup_history()
    out.info(f"chatting with {agent.runtime.name} ({len(session.toolbox)} tools); /help for commands, Ctrl-D to leave")
    last: Any = None
    try:
        while True:
            try:
                question = _read_question()
            except KeyboardInterrupt:
                sys.stdout.write("\n")
                continue
            if question is None:
                sys.stdout.write("\n")
                return
            if not question:
                continue
            if question.startswith("/"):
                if _command(question, session, out, last) == "exit":
                    return
                continue
            mark = len(agent.messages)
            try:
                last = agent.ask(question, out.stream, lambda kind, data: out.info(event_text(kind, data)))
            except KeyboardInterrupt:
                del agent.messages[mark:]
                sys.stdout.write("\n")
                out.info("[cancelled]")
                continue
            except EdgeError as e:  # this question failed (too long, a refused tool): the session goes on
                del agent.messages[mark:]
                out.info(f"[{e.message}{f' ({e.hint})' if e.hint else ''}]")
                continue
            sys.stdout.write("\n")
            if last.failed:
                out.info(f"[{last.failed}]")
    finally:
        _save_history(history)


def _command(line: str, session: Session, out: Output, last: Outcome | None) -> str | None:
    agent = session.agent
    cmd, _, arg = line.partition(" ")
    if cmd in {"/exit", "/quit", "/bye"}:
        return "exit"
    if cmd == "/help":
        out.line(HELP)
    elif cmd == "/tools":
        rows = [(t.name, t.risk, t.source, t.description[:70]) for t in session.toolbox]
        out.table(["tool", "risk", "source", "description"], rows)
    elif cmd == "/reset":
        agent.reset()
        out.info("[conversation cleared]")
    elif cmd == "/model":
        out.line(f"model: {agent.runtime.name}")
        if agent.fallback is not None:
            out.line(f"fallback: {agent.fallback.name}")
    elif cmd == "/save":
        if not arg.strip():
            out.info("usage: /save FILE")
            return None
        doc = session.transcript(last).to_dict()
        try:
            Path(arg.strip()).expanduser().write_text(json.dumps(doc, indent=2, ensure_ascii=False, default=str) + "\n")
        except OSError as e:
            out.info(f"cannot write {arg.strip()}: {e.strerror}")
            return None
        out.info(f"[saved to {arg.strip()}]")
    else:
        out.info(f"unknown command {cmd}; /help lists them")
    return None
