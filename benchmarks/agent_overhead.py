"""Figures for the chat issue, written to benchmarks/results/agent_overhead.json:

- agent overhead per model turn: time in our code (loop, parsing, coercion, checks, approval, audit,
  transcript), with model and tool time excluded, over real SmolLM2 turns;
- the same with a runtime that answers instantly, so nothing but our code is timed;
- wall time of a one-shot tool-calling answer (`edgeagent chat MODEL -p "What is 17*23?"`),
  a fresh process each time: start-up, model load, routing, the call, the answer.

    python benchmarks/agent_overhead.py MODEL.gguf [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from edgeagent_cli.core.agent.loop import Agent  # noqa: E402
from edgeagent_cli.core.agent.runtime import Reply  # noqa: E402
from edgeagent_cli.core.agent.toolcall import ToolCall  # noqa: E402
from edgeagent_cli.core.agent.tools import Toolbox  # noqa: E402
from edgeagent_cli.core.agent.tools.builtin import builtin_tools  # noqa: E402

QUESTIONS = [
    "What is 17*23?",
    "What time is it right now?",
    "What is the capital of France?",
    "Compute 2 to the power of 10",
    "How much RAM does this machine have?",
]


class Instant:
    """A runtime that answers at once: a call, then an answer, so a question is two turns."""

    name = "instant"

    def turn(self, messages, tools, tool_choice="auto", on_text=None):  # type: ignore[no-untyped-def]
        if messages[-1]["role"] == "user":
            return Reply("", [ToolCall("calculator", {"expression": "17*23"})], raw="")
        return Reply("17*23 = 391", raw="17*23 = 391")

    def close(self) -> None:
        pass


def per_turn_ms(outcomes: list) -> list[float]:  # type: ignore[type-arg]
    return [o.agent_seconds / o.steps * 1000 for o in outcomes]


def overhead_real(model: Path, workspace: Path) -> dict:
    from edgeagent_cli.core.agent.runtime.local import LocalRuntime

    runtime = LocalRuntime(model, {"n_threads": os.cpu_count()})
    outcomes = []
    for q in QUESTIONS:
        agent = Agent(runtime, Toolbox(builtin_tools(workspace)))
        outcomes.append(agent.ask(q))
    ms = per_turn_ms(outcomes)
    return {
        "questions": len(QUESTIONS),
        "turns": sum(o.steps for o in outcomes),
        "agent_ms_per_turn": {"median": statistics.median(ms), "max": max(ms)},
        "model_s_per_question": statistics.median(o.model_seconds for o in outcomes),
    }


def overhead_instant(workspace: Path, n: int = 200) -> dict:
    outcomes = [Agent(Instant(), Toolbox(builtin_tools(workspace))).ask("What is 17*23?") for _ in range(n)]
    ms = per_turn_ms(outcomes)
    return {"questions": n, "agent_ms_per_turn": {"median": statistics.median(ms), "p90": sorted(ms)[int(0.9 * n)]}}


def one_shot(model: Path, runs: int, workspace: Path) -> dict:
    times, answers = [], []
    for _ in range(runs):
        t0 = time.perf_counter()
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "edgeagent_cli",
                "chat",
                str(model),
                "-p",
                "What is 17*23?",
                "--expect-tool",
                "calculator",
                "--json",
            ],
            capture_output=True,
            text=True,
            cwd=workspace,
        )
        times.append(time.perf_counter() - t0)
        answers.append(json.loads(done.stdout).get("answer") if done.stdout else done.stderr.strip())
    return {
        "runs": runs,
        "median_s": statistics.median(times),
        "min_s": min(times),
        "max_s": max(times),
        "answers": answers,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("model", type=Path)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["EDGEAGENT_HOME"] = str(Path(tmp) / "home")
        ws = Path(tmp) / "ws"
        ws.mkdir()
        doc = {
            "model": args.model.name,
            "cpu_count": os.cpu_count(),
            "instant_runtime": overhead_instant(ws),
            "real_model": overhead_real(args.model, ws),
            "one_shot_tool_answer": one_shot(args.model, args.runs, ws),
        }
    out = Path(__file__).parent / "results" / "agent_overhead.json"
    out.write_text(json.dumps(doc, indent=2) + "\n")
    print(json.dumps(doc, indent=2))


if __name__ == "__main__":
    main()
