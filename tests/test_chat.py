"""`edgeagent chat` and `eval tools` with the real SmolLM2-135M: one-shot, REPL on a pty, MCP, endpoint."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO, cli, cli_json, one_line_error

pytestmark = pytest.mark.slow
BFCL = REPO / "tests" / "data" / "bfcl"
MCP_SERVER = f"{sys.executable} {Path(__file__).parent / 'mcp_server.py'}"


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    ws = tmp_path / "ws"
    ws.mkdir()
    monkeypatch.chdir(ws)
    return ws


def test_calculator_answers_17_times_23(smollm2: Path, workspace: Path) -> None:
    doc = cli_json("chat", str(smollm2), "--prompt", "What is 17*23?", "--expect-tool", "calculator")
    assert [c["name"] for c in doc["tool_calls"]] == ["calculator"]
    assert doc["tool_calls"][0]["result"].endswith("= 391") and doc["tool_calls"][0]["approved"] == "auto"
    assert "391" in doc["answer"]
    assert doc["timings"]["agent_s"] < doc["timings"]["total_s"] and doc["usage"]["completion_tokens"] > 0
    assert [m["role"] for m in doc["messages"]][:3] == ["user", "assistant", "tool"]


def test_a_model_without_a_chat_template_answers_17_times_23_after_one_call(gemma3_base: Path, workspace: Path) -> None:
    """The second real model, pretrained only: the plan routes the step after the result to an answer."""
    doc = cli_json("chat", str(gemma3_base), "--prompt", "What is 17*23?")
    assert [c["name"] for c in doc["tool_calls"]] == ["calculator"] and doc["failed"] is None
    assert doc["tool_calls"][0]["result"].endswith("= 391") and "391" in doc["answer"]
    assert "assistant:" not in doc["answer"]  # a line that opens the next turn ends the answer
    assert doc["timings"]["steps"] == 2
    assert any("no chat template" in note for note in doc["notes"])


def test_chat_takes_its_settings_from_the_resolver(smollm2: Path, workspace: Path) -> None:
    done = cli(
        "chat",
        str(smollm2),
        "-p",
        "Hi",
        "--no-builtins",
        "--profile",
        "edge",
        "--verbose",
        "--json",
        env={"EDGEAGENT_CTX": "1024", "EDGEAGENT_BATCH": "128"},
    )
    assert done.returncode == 0, done.stderr
    settings = json.loads(done.stdout)["settings"]
    assert settings["context"] == {"value": 1024, "source": "EDGEAGENT_CTX"}
    assert settings["batch"] == {"value": 128, "source": "EDGEAGENT_BATCH"}
    assert settings["profile"] == {"name": "edge", "source": "--profile"}
    assert "threads=" in done.stderr and "from profile edge (auto: physical cores)" in done.stderr


def test_time_question_calls_the_time_tool_and_stdin_works(smollm2: Path, workspace: Path) -> None:
    done = cli("chat", str(smollm2), "--json", "--expect-tool", "current_time", input="What time is it right now?")
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert "current_time" in {c["name"] for c in doc["tool_calls"]}


def test_expect_tool_exits_7_when_the_tool_is_not_called(smollm2: Path, workspace: Path) -> None:
    done = cli(
        "chat", str(smollm2), "--prompt", "What is the capital of France?", "--expect-tool", "calculator", "--json"
    )
    assert done.returncode == 7
    doc = json.loads(done.stdout)
    assert doc["error"]["code"] == 7 and doc["tool_calls"] == [] and doc["answer"]


def test_write_outside_the_workspace_is_refused_even_when_allowed(
    smollm2: Path, workspace: Path, tmp_path: Path
) -> None:
    done = cli(
        "chat",
        str(smollm2),
        "--prompt",
        "Save the text hello in the file ../../etc/edgeagent-test.txt",
        "--tool-choice",
        "write_file",
        "--allow-tool",
        "write_file",
        "--max-steps",
        "1",
        "--json",
    )
    doc = json.loads(done.stdout)
    write = doc["tool_calls"][0]
    assert write["name"] == "write_file" and write["approved"] == "flag"
    assert write["arguments"]["path"].startswith("..")
    assert write["error"] and "out of the workspace" in write["error"]
    assert list(workspace.iterdir()) == [] and not any(tmp_path.rglob("edgeagent-test.txt"))


def test_write_inside_without_a_terminal_needs_the_flag(smollm2: Path, workspace: Path) -> None:
    done = cli("chat", str(smollm2), "--prompt", "Write the word hello to notes.txt", "--tool-choice", "write_file")
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert (
        last.startswith("error: tool write_file")
        and "--allow-tool write_file" in last
        and "Traceback" not in done.stderr
    )
    assert list(workspace.iterdir()) == []
    log = [
        json.loads(x) for x in (Path(os.environ["EDGEAGENT_HOME"]) / "logs" / "audit.jsonl").read_text().splitlines()
    ]
    assert log[-1]["tool"] == "write_file" and log[-1]["approved"] == "denied"


def test_mcp_server_tools_are_offered_and_called(smollm2: Path, workspace: Path) -> None:
    doc = cli_json(
        "chat",
        str(smollm2),
        "--no-builtins",
        "--mcp",
        MCP_SERVER,
        "--tool-choice",
        "word_count",
        "--max-steps",
        "1",
        "--prompt",
        "How many words are in: the quick brown fox",
        code=1,
    )
    first = doc.get("tool_calls") or []
    assert first and first[0]["name"] == "word_count" and first[0]["result"].endswith("words")


def test_bad_chat_input_is_one_line(smollm2: Path, workspace: Path) -> None:
    done = cli("chat", str(smollm2), "--prompt", "hi", "--tool-choice", "teleport")
    assert done.returncode == 2 and "teleport" in one_line_error(done)
    done = cli("chat", str(smollm2), "--prompt", "hi", "--mcp", "/nonexistent/server")
    assert done.returncode == 1 and "MCP server" in one_line_error(done)
    done = cli("chat", str(smollm2), "--prompt", "hi", "--tools", "missing.py")
    assert done.returncode == 3 and "missing.py" in one_line_error(done)


def test_repl_on_a_pty_calls_tools_survives_ctrl_c_and_exits(smollm2: Path, workspace: Path) -> None:
    import pexpect

    child = pexpect.spawn(
        sys.executable,
        ["-m", "edgeagent_cli", "chat", str(smollm2), "--mcp", MCP_SERVER],
        env={**os.environ, "TERM": "dumb"},
        encoding="utf-8",
        timeout=120,
        preexec_fn=_ctrl_c_reaches_it,
    )
    try:
        child.expect(">>> ")
        child.sendline("/tools")
        child.expect("word_count")
        child.expect(">>> ")
        child.sendline('"""What is')  # multi-line input
        child.expect(r"\.\.\. ")
        child.sendline('17*23?"""')
        child.expect("-> calculator")
        child.expect("391")
        child.expect(">>> ")
        child.sendline(f"/save {workspace / 'chat.json'}")
        child.expect("saved")
        child.expect(">>> ")
        child.sendline("Tell me a long story, in ten paragraphs, about a dragon and a knight.")
        child.expect("knight.\r\n")  # the echo of the question; the answer comes after it
        child.expect(r"\w+ \w+ \w+")  # the answer is streaming
        child.sendintr()
        child.expect(r"\[cancelled\]")
        child.expect(">>> ")
        child.sendline("/exit")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 0
    assert (Path(os.environ["EDGEAGENT_HOME"]) / "chat_history").exists()
    saved = json.loads((workspace / "chat.json").read_text())
    assert saved["messages"][0] == {"role": "user", "content": "What is\n17*23?"}
    assert [m["role"] for m in saved["messages"]] == [
        "user",
        "assistant",
        "tool",
        "assistant",
    ]  # the cancelled story is gone


def test_eval_tools_scores_bfcl_and_gates(smollm2: Path, workspace: Path) -> None:
    q, a = BFCL / "BFCL_v4_simple_python.json", BFCL / "possible_answer" / "BFCL_v4_simple_python.json"
    doc = cli_json("eval", "tools", str(smollm2), "-q", str(q), "-a", str(a), "--limit", "8")
    assert doc["entries"] == 8 and len(doc["results"]) == 8
    assert doc["well_formed"] == 1.0
    assert 0.5 <= doc["accuracy"] <= 1.0 and doc["by_category"]["simple_python"]["entries"] == 8
    first = doc["results"][0]
    assert first["id"] == "simple_python_0" and first["calls"][0]["name"] == "calculate_triangle_area"
    # with the first entry's answer changed it cannot be right: accuracy at most 7/8, below the gate
    answers = [json.loads(line) for line in a.read_text().splitlines()[:8]]
    answers[0]["ground_truth"] = [{"calculate_triangle_area": {"base": [11], "height": [5], "unit": ["units", ""]}}]
    wrong = workspace / "answers.json"
    wrong.write_text("".join(json.dumps(x) + "\n" for x in answers))
    gated = cli("eval", "tools", str(smollm2), "-q", str(q), "-a", str(wrong), "--limit", "8", "--min-accuracy", "0.99")
    assert gated.returncode == 7 and "below --min-accuracy" in gated.stderr


def test_eval_irrelevance_needs_no_answers(smollm2: Path, workspace: Path) -> None:
    doc = cli_json("eval", "tools", str(smollm2), "-q", str(BFCL / "BFCL_v4_irrelevance.json"), "--limit", "3")
    assert set(doc["by_category"]) == {"irrelevance"}
    alone = workspace / "BFCL_v4_multiple.json"  # no possible_answer/ beside it
    alone.write_text((BFCL / "BFCL_v4_multiple.json").read_text())
    missing = cli("eval", "tools", str(smollm2), "-q", str(alone), "--limit", "1")
    assert missing.returncode == 2 and "--answers" in one_line_error(missing)


def test_eval_runs_every_category_of_a_directory_and_compares(smollm2: Path, workspace: Path) -> None:
    first = cli_json("eval", "tools", str(smollm2), "-q", str(BFCL), "--limit", "2")
    assert set(first["by_category"]) == {"simple_python", "multiple", "parallel", "parallel_multiple", "irrelevance"}
    assert all(v["entries"] == 2 and v["median_seconds"] is not None for v in first["by_category"].values())
    earlier = workspace / "earlier.json"
    earlier.write_text(json.dumps(first))
    again = cli(
        "eval",
        "tools",
        str(smollm2),
        "-q",
        str(BFCL),
        "--category",
        "simple_python",
        "-n",
        "2",
        "--compare",
        str(earlier),
    )
    assert again.returncode == 0, again.stderr
    assert "simple_python: accuracy" in again.stdout and "+0.0 points" in again.stdout


@pytest.fixture
def served(smollm2: Path) -> Iterator[dict]:
    cli_json("models", "import", str(smollm2), "--name", "smol")
    doc = cli_json("serve", "start", "smol", timeout=180)
    try:
        yield doc
    finally:
        cli("serve", "stop")


def test_endpoint_chat_and_fallback_record_which_model_answered(smollm2: Path, served: dict, workspace: Path) -> None:
    doc = cli_json("chat", "--endpoint", served["base_url"], "--prompt", "Say hello.", "--no-builtins")
    assert doc["answer"] and doc["model"].endswith(served["base_url"].rstrip("/"))
    # The small model gets 2 tokens, so its forced call cannot finish: the turn goes to the endpoint.
    done = cli(
        "chat",
        str(smollm2),
        "--prompt",
        "What is 2+2?",
        "--tool-choice",
        "calculator",
        "--max-tokens",
        "2",
        "--fallback-endpoint",
        served["base_url"],
        "--max-steps",
        "2",
        "--json",
    )
    assert "falling back to smol@" in done.stderr
    doc = json.loads(done.stdout)
    models = [m.get("model") for m in doc["messages"] if m["role"] == "assistant"]
    assert models and models[0].startswith("smol@")


def test_a_template_with_a_tool_section_gets_the_tools_natively(smollm2: Path, workspace: Path) -> None:
    """A Qwen2.5-style template (tests/data): tools and earlier calls go through it, not our prompt."""
    from edgeagent_cli.core.agent.runtime.local import LocalRuntime, _native
    from edgeagent_cli.core.agent.tools import Toolbox
    from edgeagent_cli.core.agent.tools.builtin import builtin_tools

    template = (Path(__file__).parent / "data" / "qwen2.5_tools.jinja").read_text()
    rt = LocalRuntime(smollm2, {"n_ctx": 2048}, chat_template=template)
    assert rt.native_tools
    tools = Toolbox(builtin_tools(workspace)).schemas()
    history = [
        {"role": "user", "content": "What is 17*23?"},
        {
            "role": "assistant",
            "content": None,
            "model": "x",
            "tool_calls": [
                {
                    "id": "call_0",
                    "type": "function",
                    "function": {"name": "calculator", "arguments": '{"expression": "17*23"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_0", "name": "calculator", "content": "17*23 = 391"},
    ]
    prompt, _ = rt._render(_native(history), tools)
    assert "# Tools" in prompt and '"name": "write_file"' in prompt
    assert '"arguments": {"expression": "17*23"}}' in prompt  # a mapping, not a JSON string in a string
    assert "<tool_response>\n17*23 = 391" in prompt
    forced = rt.turn(history[:1], tools, "calculator")  # tool_choice is honoured on the native path too
    assert [c.name for c in forced.calls] == ["calculator"] and forced.calls[0].arguments.get("expression")
    answer = rt.turn(history, tools)
    assert answer.content or answer.calls
    done = cli("chat", str(smollm2), "--chat-template", "missing.jinja", "--prompt", "hi")
    assert done.returncode == 3 and "missing.jinja" in one_line_error(done)


STORY = "Tell me a long story about dragons, at least 2000 words"


def _telling_a_story(smollm2: Path, *extra: str) -> subprocess.Popen[str]:
    """A one-shot chat writing a long answer: something to interrupt."""
    cmd = [sys.executable, "-m", "edgeagent_cli", "chat", str(smollm2), "--no-builtins", "--max-tokens", "2000",
           *extra, "-p", STORY]  # fmt: skip
    return subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=_ctrl_c_reaches_it
    )


def _ctrl_c_reaches_it() -> None:
    """A suite started as a background job (`make test &`) inherits SIGINT ignored, and Python then
    installs no KeyboardInterrupt: the child a Ctrl-C test talks to gets the default back."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_in_a_one_shot_answer_exits_130_with_one_line(smollm2: Path, workspace: Path) -> None:
    proc = _telling_a_story(smollm2)
    deadline = time.time() + 60
    while time.time() < deadline and proc.stdout is not None and not proc.stdout.read(1):
        pass  # wait until the answer streams
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert err.strip().splitlines()[-1] == "interrupted" and "Traceback" not in err


def test_ctrl_c_with_json_prints_the_transcript_so_far_and_the_error(smollm2: Path, workspace: Path) -> None:
    proc = _telling_a_story(smollm2, "--json")
    deadline = time.time() + 60
    while time.time() < deadline and proc.stderr is not None and "loading" not in proc.stderr.readline():
        pass
    time.sleep(1.5)  # the model is answering
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    doc = json.loads(out)
    assert doc["error"]["code"] == 130 and doc["exit_code"] == 130
    assert doc["messages"][0] == {"role": "user", "content": STORY}
    assert err.strip().splitlines()[-1] == "interrupted"


def test_two_parameters_do_not_share_one_value_the_request_writes_once(smollm2: Path) -> None:
    """BFCL multiple_12: greedy, SmolLM2 gives both years' revenue as $1.2M. Decoded again with 1200000
    barred for one parameter and then for the other, the likelier call has $1M for 2019."""
    from edgeagent_cli.core.agent import eval as bfcl
    from edgeagent_cli.core.agent.runtime.local import LocalRuntime

    entries, _ = bfcl.load(BFCL, None, None, ["multiple"])
    entry = next(e for e in entries if e["id"] == "multiple_12")
    tools, _names = bfcl.tools_for(entry)
    rt = LocalRuntime(smollm2, {"n_ctx": 4096}, max_tokens=256)
    reply = rt.turn(bfcl.question_messages(entry), tools, "auto")
    (call,) = reply.calls
    assert call.arguments["year1_revenue"] == 1_000_000 and call.arguments["year2_revenue"] == 1_200_000


def test_a_request_the_words_are_sure_of_is_routed_without_a_model_pass(smollm2: Path) -> None:
    """BFCL simple_python_0 names its tool and writes both numbers: the call is made, and the only model
    work is the call's arguments (no router pass); a request of two tools' words goes to the model, which
    scores only the tools the words make nearly as likely as the best."""
    from edgeagent_cli.core.agent import eval as bfcl
    from edgeagent_cli.core.agent.runtime.local import LocalRuntime
    from edgeagent_cli.core.agent.runtime.router import Router

    entries, _ = bfcl.load(BFCL, None, 1, ["simple_python"])
    tools, _names = bfcl.tools_for(entries[0])
    rt = LocalRuntime(smollm2, {"n_ctx": 4096}, max_tokens=256)
    passes = []
    logprob_many = Router._logprob_many
    Router._logprob_many = lambda self, *a: passes.append(a) or logprob_many(self, *a)  # type: ignore[method-assign]
    try:
        reply = rt.turn(bfcl.question_messages(entries[0]), tools, "auto")
        assert reply.route and reply.route["by"] == "words" and not passes
        assert [c.arguments for c in reply.calls] == [{"base": 10, "height": 5, "unit": "units"}]
        fn = tools[0]["function"]
        weather = {"name": "get_weather", "description": "Current weather in a city.", "parameters": {"properties": {}}}
        three = [
            tools[0],
            {"type": "function", "function": {**fn, "name": "calculate_triangle_perimeter"}},
            {"type": "function", "function": weather},
        ]
        reply = rt.turn([{"role": "user", "content": "Find the area of a triangle with base 10 and height 5"}], three)
        assert reply.route and reply.route["by"] == "model" and passes
        # the model scored the two triangle tools, not the one the words put far below them
        scored = {rt.llm.detokenize(list(prefix)).decode() for prefix, _ in passes}
        assert any("calculate_triangle_perimeter" in p for p in scored) and not any("get_weather" in p for p in scored)
        assert reply.route["probabilities"]["get_weather"] == 0.0
    finally:
        Router._logprob_many = logprob_many  # type: ignore[method-assign]


def test_the_next_call_takes_the_values_the_request_writes_after_the_first(smollm2: Path) -> None:
    """BFCL parallel_15: "a short term capital gains of $15000, long term gains of $25000 in the state of
    California and $20000 short term, $50000 long term in Florida" is two calls; no rule reads the
    second frame (its words differ from the first's), the model does, one call after the other."""
    from edgeagent_cli.core.agent import eval as bfcl
    from edgeagent_cli.core.agent.runtime.local import LocalRuntime

    entries, _ = bfcl.load(BFCL, None, None, ["parallel"])
    entry = next(e for e in entries if e["id"] == "parallel_15")
    tools, _names = bfcl.tools_for(entry)
    rt = LocalRuntime(smollm2, {"n_ctx": 4096}, max_tokens=256)
    made = []
    next_calls = rt._next_calls
    rt._next_calls = lambda *a: made.append(next_calls(*a)) or made[-1]  # type: ignore[method-assign]
    reply = rt.turn(bfcl.question_messages(entry), tools, "auto")
    assert [c.arguments for c in reply.calls] == [
        {"short_term_gain": 15000, "long_term_gain": 25000, "state": "California"},
        {"short_term_gain": 20000, "long_term_gain": 50000, "state": "Florida"},
    ]
    assert len(made) == 1 and len(made[0][0]) == 1  # the second call is the model's next call


def test_a_request_that_begins_one_already_scored_is_read_off_it(smollm2: Path) -> None:
    """The router scores "A and B" after a tool's description, then "A" for the split at "and": the
    second is read off the first's per-token log-probabilities, with no decode, and equals a fresh score."""
    import llama_cpp

    from edgeagent_cli.core.agent.runtime.router import BASELINE_PREFIX, Router, tool_prefix

    llm = llama_cpp.Llama(str(smollm2), n_ctx=2048, verbose=False)
    whole = "Find the area of a triangle with base 10 and height 5 and book a flight to Boston for two"
    left = "Find the area of a triangle with base 10 and height 5"
    tool = {"name": "calc_area", "description": "The area of a triangle", "parameters": {"properties": {"base": {}}}}
    for prefix_text in (tool_prefix(tool), BASELINE_PREFIX):
        tokens = lambda text: llm.tokenize((" " + text).encode(), add_bos=False, special=False)  # noqa: E731
        router = Router(llm)
        prefix = router._tokens(prefix_text, 160)
        router._logprob_many(prefix, [tokens(whole)])
        decodes = llama_cpp.llama_decode
        llama_cpp.llama_decode = None  # type: ignore[assignment]  # reading it off must not decode
        try:
            derived = router._logprob_many(prefix, [tokens(left)])[0]
        finally:
            llama_cpp.llama_decode = decodes
        assert derived == Router(llm)._logprob_many(prefix, [tokens(left)])[0]
    llm.close()


def test_descriptions_stay_in_the_kv_cache_and_requests_share_a_batch(smollm2: Path) -> None:
    """The runtime's context has sequences for the router: a tool's description is evaluated once per
    routed request, the requests after it go in one batch, and what comes out agrees with scoring each
    alone in a one-sequence context (a little apart: other cells, other kernels); a context too small
    for the batch scores the requests one at a time."""
    import llama_cpp

    from edgeagent_cli.core.agent.runtime.local import load_llama
    from edgeagent_cli.core.agent.runtime.router import Router, tool_prefix

    tool = {"name": "calc_area", "description": "The area of a triangle", "parameters": {"properties": {"base": {}}}}
    other = {"name": "get_weather", "description": "Current weather in a city", "parameters": {"properties": {}}}
    requests = ["Find the area of a triangle with base 10", "What is the weather in Paris?", "Area of a triangle"]
    plain = llama_cpp.Llama(str(smollm2), n_ctx=2048, verbose=False)
    alone = [Router(plain).scores(r, [tool, other]) for r in requests]
    plain.close()
    llm = load_llama(smollm2, "SmolLM2", {"n_ctx": 2048})
    router = Router(llm)
    batches: list[int] = []
    decode = llama_cpp.llama_decode
    llama_cpp.llama_decode = lambda ctx, batch: batches.append(batch.n_tokens) or decode(ctx, batch)  # type: ignore[assignment]
    try:
        together = router.scores_many(requests, [tool, other])
        assert len(batches) == 3  # the baseline, then each tool: its description and all three requests
        head = len(router._tokens(tool_prefix(tool), 160))
        batches.clear()
        router.scores_many(["How large is a triangle of base 4?"], [tool])
        assert 0 < batches[0] < head  # the description was still there: only the request is evaluated
    finally:
        llama_cpp.llama_decode = decode  # type: ignore[assignment]
    for a, b in zip(alone, together, strict=True):
        assert a.keys() == b.keys() and all(abs(a[k] - b[k]) < 1.5 for k in a)
    assert max(together[0], key=lambda k: together[0][k]) == "calc_area"
    assert max(together[1], key=lambda k: together[1][k]) == "get_weather"
    llm.close()
    # 256 cells and batches of 64 tokens: each description goes in a batch of its own, and when the
    # descriptions kept fill the cache they are let go and the requests scored one at a time
    small = load_llama(smollm2, "SmolLM2", {"n_ctx": 64})
    router = Router(small)
    wordy = [
        {"name": f"area_{i}", "description": "The area of a triangle, from its base and height " * 3 + str(i)}
        for i in range(8)
    ]
    forgot = []
    forget = router.forget
    router.forget = lambda: forgot.append(1) or forget()  # type: ignore[method-assign]
    scored = router.scores_many(requests, wordy)
    assert forgot and len(scored) == 3 and all(len(s) == 8 for s in scored)
    assert abs(scored[0]["area_0"] - Router(small).scores(requests[0], wordy[:1])["area_0"]) < 1.5
    small.close()


def test_routing_leaves_the_kv_cache_empty_and_llama_cpp_pythons_cache_true(smollm2: Path) -> None:
    """After a turn's calls the context holds their prompt; routing the next request, by the words or by
    the model, leaves no cell of its own and no prefix llama-cpp-python believes is still there (its
    next completion would reuse tokens the cache no longer holds)."""
    import llama_cpp

    from edgeagent_cli.core.agent import eval as bfcl
    from edgeagent_cli.core.agent.runtime.local import ROUTER_SEQUENCES, LocalRuntime

    entries, _ = bfcl.load(BFCL, None, 2, ["simple_python", "multiple"])
    rt = LocalRuntime(smollm2, {"n_ctx": 4096}, max_tokens=256)
    memory = llama_cpp.llama_get_memory(rt.llm._ctx.ctx)
    for entry in entries:
        tools, _names = bfcl.tools_for(entry)
        rt.turn(bfcl.question_messages(entry), tools, "auto")
        assert rt.llm.n_tokens > 0  # the call's prompt and answer
        rt._plans.clear()
        _plan, route = rt._plan(bfcl.question_messages(entry)[-1]["content"], tools, "auto")
        assert route["by"] in ("words", "model")
        assert all(llama_cpp.llama_memory_seq_pos_max(memory, s) == -1 for s in range(1, ROUTER_SEQUENCES))
        assert llama_cpp.llama_memory_seq_pos_max(memory, 0) + 1 >= rt.llm.n_tokens
    rt.close()


def test_a_grounded_call_ends_where_its_arguments_close(smollm2: Path) -> None:
    """What the grammar forces after the arguments (`}\n</tool_call>` and the end) is written, not
    decoded: the same call, in fewer decode steps."""
    from edgeagent_cli.core.agent import toolcall
    from edgeagent_cli.core.agent.runtime.local import LocalRuntime
    from edgeagent_cli.core.agent.toolcall.grammar import CALL_END
    from edgeagent_cli.core.agent.toolcall.ground import grounded_grammar

    tool = {
        "name": "area_circle",
        "description": "The area of a circle.",
        "parameters": {"type": "object", "properties": {"radius": {"type": "integer"}}, "required": ["radius"]},
    }
    text = "What is the area of a circle of radius 5?"
    rt = LocalRuntime(smollm2, {"n_ctx": 2048}, max_tokens=64)
    messages = [{"role": "user", "content": text}]
    prompt = rt._render(rt._ours(messages, [tool], settled=True), None)[0] + toolcall.call_prefix("area_circle")
    grammar = grounded_grammar(tool, text)
    assert grammar is not None
    whole, finish, n_whole = rt.decoder().generate(prompt, grammar, 64)
    closed, finish_closed, n_closed = rt.decoder().generate(prompt, grammar, 64, closing=CALL_END)
    assert closed == whole == '{"radius": 5}' + CALL_END
    assert finish == finish_closed == "stop" and n_closed <= n_whole - 5
    rt.close()


def test_a_clause_short_of_a_number_goes_to_the_tool_it_names(smollm2: Path) -> None:
    """BFCL parallel_multiple_27: "Transfer $5000 ... And calculate my potential interests after 5 years if
    the annual interest rate is 3%." The second clause lacks the principal, but it names another likely
    tool: it is that tool's call, read with the clause before (not the transfer made again)."""
    reply = _bfcl_turn(smollm2, "parallel_multiple_27")
    assert [c.name for c in reply.calls] == ["bank_account_transfer", "bank_account_calculate_interest"]
    assert reply.calls[1].arguments["principal"] == 5000 and reply.calls[1].arguments["time"] == 5


def _bfcl_turn(smollm2: Path, entry_id: str) -> Any:
    from edgeagent_cli.core.agent import eval as bfcl
    from edgeagent_cli.core.agent.runtime.local import LocalRuntime

    entries, _ = bfcl.load(BFCL, None, None, [entry_id.rsplit("_", 1)[0]])
    entry = next(e for e in entries if e["id"] == entry_id)
    tools, _names = bfcl.tools_for(entry)
    rt = LocalRuntime(smollm2, {"n_ctx": 4096}, max_tokens=256)
    return rt.turn(bfcl.question_messages(entry), tools, "auto")


def test_the_next_call_takes_the_values_the_rest_writes(smollm2: Path) -> None:
    """BFCL parallel_15: "... $15000, long term gains of $25000 in the state of California and $20000
    short term, $50000 long term in Florida?" The next call's first decode writes 20000 twice (barred
    in turn, as for a first call), and of the calls that write the rest's values, the one that takes
    more of them ("Florida") beats the one that keeps "California"."""
    reply = _bfcl_turn(smollm2, "parallel_15")
    assert [c.arguments for c in reply.calls] == [
        {"short_term_gain": 15000, "long_term_gain": 25000, "state": "California"},
        {"short_term_gain": 20000, "long_term_gain": 50000, "state": "Florida"},
    ]


def test_questions_after_commas_are_split_in_turn(smollm2: Path) -> None:
    """BFCL parallel_multiple_60: "What is the capital city of Australia, what is the current population
    of Canada, and what is the largest city in Brazil?" Three questions for three tools: ", what" is a
    place to split, and the part after a split is split again."""
    reply = _bfcl_turn(smollm2, "parallel_multiple_60")
    assert [(c.name, c.arguments) for c in reply.calls] == [
        ("country_info_capital", {"country": "Australia"}),
        ("country_info_population", {"country": "Canada"}),
        ("country_info_largest_city", {"country": "Brazil"}),
    ]
