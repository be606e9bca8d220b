"""The agent loop: model turn, tool calls, results back to the model, until an answer or max steps.

What the anchors' users complain of is handled here, in one place: a call the model gets wrong
(unknown tool, bad arguments, a call that does not parse) goes back to the model once with the
error, then to the user; the same call twice in a row is stopped; a step limit ends every loop; a
turn the small model fails can go to a fallback runtime (hybrid routing), and every assistant
message says which model wrote it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from edgeagent_cli.core.agent.runtime import OnText, Reply, Runtime
from edgeagent_cli.core.agent.toolcall import ToolCall, check_arguments, coerce
from edgeagent_cli.core.agent.tools import Tool, Toolbox, ToolError
from edgeagent_cli.core.agent.tools.policy import DENIED, Approver, Declined, audit
from edgeagent_cli.core.errors import EdgeError

OnEvent = Callable[[str, dict[str, Any]], None]


@dataclass
class Outcome:
    """The result of one user question: the answer, or why there is none."""

    answer: str = ""
    failed: str | None = None
    calls: list[dict[str, Any]] = field(default_factory=list)
    steps: int = 0
    model_seconds: float = 0.0
    tool_seconds: float = 0.0
    total_seconds: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def agent_seconds(self) -> float:
        """Time in our own code: everything that is neither the model nor a tool."""
        return max(0.0, self.total_seconds - self.model_seconds - self.tool_seconds)


class Agent:
    def __init__(
        self,
        runtime: Runtime,
        toolbox: Toolbox,
        approver: Approver | None = None,
        *,
        fallback: Runtime | None = None,
        max_steps: int = 6,
        tool_choice: str = "auto",
        system: str | None = None,
    ) -> None:
        self.runtime = runtime
        self.toolbox = toolbox
        self.approver = approver or Approver()
        self.fallback = fallback
        self.max_steps = max_steps
        self.tool_choice = tool_choice
        self.system = system
        self.messages: list[dict[str, Any]] = []
        self.current = Outcome()  # the question in progress, for a transcript when a run is cut short
        self.reset()

    def reset(self) -> None:
        self.messages = [{"role": "system", "content": self.system}] if self.system else []

    def ask(self, question: str, on_text: OnText | None = None, on_event: OnEvent | None = None) -> Outcome:
        t0 = time.perf_counter()
        out = self.current = Outcome()
        emit = on_event or (lambda kind, data: None)
        self.messages.append({"role": "user", "content": question})
        schemas = self.toolbox.schemas()
        seen: set[str] = set()
        strikes = 0  # errors already sent back to the model for this question
        try:
            for step in range(self.max_steps):
                out.steps = step + 1
                choice = self.tool_choice if step == 0 else "auto"
                reply = self._turn(schemas, choice, on_text, out)
                problem = self._problem(reply)
                if problem and self.fallback is not None and reply.model != self.fallback.name:
                    emit("fallback", {"reason": problem, "model": self.fallback.name})
                    reply = self._turn(schemas, choice, on_text, out, self.fallback)
                    problem = self._problem(reply)
                if problem:
                    if strikes == 0 and (reply.calls or reply.malformed):
                        strikes += 1
                        self._send_back(reply, problem)
                        emit("retry", {"reason": problem})
                        continue
                    out.failed = problem
                    break
                if not reply.calls:
                    out.answer = reply.content
                    self.messages.append({"role": "assistant", "content": reply.content, "model": reply.model})
                    break
                repeated = self._run_calls(reply, seen, out, emit)
                if repeated:
                    out.failed = f"stopped: the model repeated the call {repeated}"
                    break
            else:
                out.failed = f"no answer after {self.max_steps} steps (--max-steps)"
        finally:
            out.total_seconds = time.perf_counter() - t0
        return out

    # --- one model turn -------------------------------------------------------------------------------
    def _turn(
        self,
        schemas: list[dict[str, Any]],
        choice: str,
        on_text: OnText | None,
        out: Outcome,
        runtime: Runtime | None = None,
    ) -> Reply:
        runtime = runtime or self.runtime
        reply = runtime.turn(self.messages, schemas, choice, on_text)
        reply.model = reply.model or runtime.name
        out.model_seconds += reply.model_seconds
        out.prompt_tokens += reply.prompt_tokens
        out.completion_tokens += reply.completion_tokens
        for call in reply.calls:
            tool = self.toolbox.get(call.name)
            if tool is None:
                call.errors = [f"unknown tool {call.name!r}; the tools are: {', '.join(self.toolbox.names())}"]
                continue
            call.arguments = coerce(call.arguments, {"type": "object", **tool.parameters})
            call.errors = check_arguments(call.arguments, tool.parameters)
        return reply

    @staticmethod
    def _problem(reply: Reply) -> str | None:
        if reply.malformed is not None:
            return f"the model's tool call did not parse: {reply.malformed.strip()[:200]!r}"
        for call in reply.calls:
            if call.errors:
                return f"invalid call to {call.name}: {'; '.join(call.errors)}"
        if not reply.calls and not reply.content.strip():
            return "the model gave an empty answer"
        return None

    def _send_back(self, reply: Reply, problem: str) -> None:
        """The model hears what was wrong, once, in the place where a tool result would go."""
        self.messages.append({"role": "assistant", "content": reply.raw, "model": reply.model})
        self.messages.append({"role": "user", "content": f"Error: {problem}. Fix the call or answer without tools."})

    # --- tools ----------------------------------------------------------------------------------------
    def _run_calls(self, reply: Reply, seen: set[str], out: Outcome, emit: OnEvent) -> str | None:
        """Run the reply's calls; the key of a call repeated from an earlier step stops the loop."""
        unique: dict[str, ToolCall] = {}
        for call in reply.calls:  # the same call twice in one reply is one call
            unique.setdefault(_key(call), call)
        if all(k in seen for k in unique):
            return next(iter(unique))
        reply.calls = list(unique.values())
        for n, call in enumerate(reply.calls):
            call.id = call.id or f"call_{len(out.calls) + n}"
        self.messages.append(
            {
                "role": "assistant",
                "content": reply.content or None,
                "model": reply.model,
                "tool_calls": [c.as_openai() for c in reply.calls],
            }
        )
        for call in reply.calls:
            seen.add(_key(call))
            tool = self.toolbox.get(call.name)
            assert tool is not None  # unknown tools were caught as problems before
            emit("call", {"name": call.name, "arguments": call.arguments})
            record = self._execute(tool, call)
            out.tool_seconds += record.pop("seconds")
            out.calls.append(record)
            emit("result", record)
            content = record["result"] if record["error"] is None else f"Error: {record['error']}"
            self.messages.append({"role": "tool", "tool_call_id": call.id, "name": call.name, "content": content})
        return None

    def _execute(self, tool: Tool, call: ToolCall) -> dict[str, Any]:
        approved, result, error = DENIED, None, None
        t0 = time.perf_counter()
        try:
            approved = self.approver.approve(tool, call.arguments)
            t0 = time.perf_counter()
            result = tool(call.arguments)
        except EdgeError as e:  # refused without a terminal: the run stops, naming the flag
            error = e.message
            raise
        except Declined as e:
            error = str(e)
        except ToolError as e:
            error = str(e)
        except TypeError as e:  # arguments the function does not take, despite the schema
            error = f"bad arguments: {e}"
        except Exception as e:  # a user or MCP tool crashed: the model and the user hear, the chat goes on
            error = f"{type(e).__name__}: {e}"
        finally:
            seconds = time.perf_counter() - t0
            audit(tool.name, tool.source, call.arguments, approved, result, error, seconds)
        return {
            "name": tool.name,
            "arguments": call.arguments,
            "result": result,
            "error": error,
            "approved": approved,
            "seconds": seconds,
        }


def _key(call: ToolCall) -> str:
    return f"{call.name}({json.dumps(call.arguments, sort_keys=True, ensure_ascii=False)})"
