"""The agent loop's rules, with a scripted runtime standing in for the model's choices.

The model is real elsewhere (test_chat.py); here the replies are scripted so that each rule (error
back once, then to the user; repeated calls stopped; max steps; fallback) is exercised every time.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from edgeagent_cli.core.agent.loop import Agent
from edgeagent_cli.core.agent.runtime import Reply
from edgeagent_cli.core.agent.toolcall import ToolCall
from edgeagent_cli.core.agent.tools import Toolbox
from edgeagent_cli.core.agent.tools.builtin import builtin_tools
from edgeagent_cli.core.agent.tools.policy import Approver, audit_path
from edgeagent_cli.core.errors import EdgeError


class Scripted:
    def __init__(self, name: str, replies: list[Reply]) -> None:
        self.name = name
        self.replies = replies
        self.seen: list[list[dict[str, Any]]] = []

    def turn(
        self,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]],
        tool_choice: str = "auto",
        on_text: Any = None,
    ) -> Reply:
        self.seen.append([dict(m) for m in messages])
        return self.replies.pop(0)

    def close(self) -> None:
        pass


def call(name: str, **args: Any) -> Reply:
    return Reply("", [ToolCall(name, args)], raw=json.dumps({"name": name, "arguments": args}))


def answer(text: str) -> Reply:
    return Reply(text, raw=text)


def agent(tmp_path: Path, replies: list[Reply], **kw: Any) -> Agent:
    return Agent(Scripted("small", replies), Toolbox(builtin_tools(tmp_path)), **kw)


def test_call_result_goes_back_and_the_answer_ends_the_question(tmp_path: Path) -> None:
    a = agent(tmp_path, [call("calculator", expression="17*23"), answer("It is 391.")])
    out = a.ask("What is 17*23?")
    assert out.answer == "It is 391." and out.failed is None and out.steps == 2
    assert out.calls == [
        {
            "name": "calculator",
            "arguments": {"expression": "17*23"},
            "result": "17*23 = 391",
            "error": None,
            "approved": "auto",
        }
    ]
    assert [m["role"] for m in a.messages] == ["user", "assistant", "tool", "assistant"]
    assert a.runtime.seen[1][-1]["content"] == "17*23 = 391"
    assert json.loads(audit_path().read_text())["tool"] == "calculator"


def test_an_invalid_call_goes_back_to_the_model_once_then_to_the_user(tmp_path: Path) -> None:
    a = agent(tmp_path, [call("calculator", expr="1"), call("calculator", expression="2+2"), answer("4")])
    out = a.ask("2+2?")
    assert out.answer == "4"
    assert "unknown argument 'expr'" in a.runtime.seen[1][-1]["content"]
    b = agent(tmp_path, [call("nope"), call("nope")])
    out = b.ask("hi")
    assert out.answer == "" and out.failed is not None and "unknown tool 'nope'" in out.failed


def test_a_repeated_identical_call_is_stopped(tmp_path: Path) -> None:
    a = agent(tmp_path, [call("current_time"), call("current_time"), answer("never")])
    out = a.ask("time?")
    assert out.failed is not None and "repeated the call current_time" in out.failed
    assert len(out.calls) == 1


def test_max_steps_ends_a_loop_of_new_calls(tmp_path: Path) -> None:
    a = agent(tmp_path, [call("calculator", expression=f"{i}+1") for i in range(5)], max_steps=3)
    out = a.ask("count")
    assert out.failed == "no answer after 3 steps (--max-steps)" and len(out.calls) == 3


def test_fallback_answers_the_turn_the_small_model_fails(tmp_path: Path) -> None:
    big = Scripted("big", [call("calculator", expression="6*7")])
    a = Agent(
        Scripted("small", [Reply("", raw="<tool_call>{", malformed="<tool_call>{"), answer("42")]),
        Toolbox(builtin_tools(tmp_path)),
        fallback=big,
    )
    out = a.ask("6*7?")
    assert out.answer == "42"
    models = [m.get("model") for m in a.messages if m["role"] == "assistant"]
    assert models == ["big", "small"]


def test_writes_need_approval_and_stay_in_the_workspace(tmp_path: Path) -> None:
    outside = tmp_path.parent / "outside.txt"
    a = agent(tmp_path, [call("write_file", path="note.txt", content="hi")])
    with pytest.raises(EdgeError, match="needs approval") as e:
        a.ask("save hi")
    assert e.value.hint == "rerun with --allow-tool write_file" and not (tmp_path / "note.txt").exists()
    b = agent(
        tmp_path,
        [call("write_file", path=str(outside), content="x"), answer("could not")],
        approver=Approver({"write_file"}),
    )
    out = b.ask("write outside")
    assert "outside the workspace" in out.calls[0]["error"] and out.calls[0]["approved"] == "flag"
    assert not outside.exists()
    log = [json.loads(line) for line in audit_path().read_text().splitlines()]
    assert [(x["tool"], x["approved"], x["ok"]) for x in log] == [
        ("write_file", "denied", False),
        ("write_file", "flag", False),
    ]
