"""The endpoint runtime against servers that honour tools, leak calls into content, or ignore tool_choice."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from edgeagent_cli.core.agent.loop import Agent
from edgeagent_cli.core.agent.runtime.endpoint import EndpointRuntime, call_schema
from edgeagent_cli.core.agent.tools import Toolbox
from edgeagent_cli.core.agent.tools.builtin import builtin_tools
from edgeagent_cli.core.errors import EdgeError, ExitCode
from tests.openai_stub import OpenAIStub

CALL = {"name": "calculator", "arguments": {"expression": "17*23"}}


@pytest.fixture(params=["native", "leak", "ignore"])
def stub(request: pytest.FixtureRequest) -> Iterator[OpenAIStub]:
    s = OpenAIStub(request.param, CALL)
    yield s
    s.close()


def test_every_server_shape_ends_in_a_run_call_and_an_answer(stub: OpenAIStub, tmp_path: Path) -> None:
    runtime = EndpointRuntime(stub.url)
    assert runtime.model == "stub-model"
    choice = "calculator" if stub.mode == "ignore" else "auto"
    streamed: list[str] = []
    out = Agent(runtime, Toolbox(builtin_tools(tmp_path)), tool_choice=choice).ask("What is 17*23?", streamed.append)
    assert out.failed is None, out.failed
    assert [c["name"] for c in out.calls] == ["calculator"] and out.calls[0]["result"] == "17*23 = 391"
    assert out.answer == "The answer is 17*23 = 391"
    assert "".join(streamed).endswith("The answer is 17*23 = 391")
    assert "<tool_call>" not in "".join(streamed)  # a leaked call is parsed, not shown as the answer
    first = stub.requests[0]
    assert first["tools"][0]["function"]["name"] == "calculator" and first["stream"] is True
    if stub.mode == "ignore":  # tool_choice was ignored, so the call came through response_format
        assert stub.requests[1]["response_format"]["schema"]["properties"]["name"] == {"const": "calculator"}
    assert out.prompt_tokens == 11 * len(stub.requests)


def test_unreachable_endpoint_is_exit_5() -> None:
    with pytest.raises(EdgeError) as e:
        EndpointRuntime("http://127.0.0.1:9")
    assert e.value.code == ExitCode.UNREACHABLE


def test_call_schema_describes_one_or_any_tool(tmp_path: Path) -> None:
    schemas = Toolbox(builtin_tools(tmp_path)).schemas()
    one = call_schema(schemas, "calculator")
    assert one["properties"]["arguments"]["required"] == ["expression"]
    assert len(call_schema(schemas, "required")["anyOf"]) == len(schemas)
