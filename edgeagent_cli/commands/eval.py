"""`edgeagent eval tools`: tool-calling accuracy on Berkeley Function Calling Leaderboard files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from edgeagent_cli.commands.chat import ChatTemplateOpt
from edgeagent_cli.errors import EdgeError, ExitCode
from edgeagent_cli.options import ApiKeyOpt, CtxOpt, EndpointOpt, JsonOpt, OptionalModelArg, ThreadsOpt
from edgeagent_cli.output import Output

app = typer.Typer(help="Evaluate models: tool-calling accuracy.", no_args_is_help=True)


@app.command("tools")
def tools(
    questions: Annotated[Path, typer.Option("--questions", "-q", help="BFCL question file (JSON lines).")],
    model: OptionalModelArg = None,
    answers: Annotated[Path | None, typer.Option("--answers", "-a", help="BFCL possible-answer file (not needed for irrelevance).")] = None,
    limit: Annotated[int | None, typer.Option("--limit", "-n", min=1, help="Only the first N entries.")] = None,
    tool_choice: Annotated[str, typer.Option("--tool-choice", help="auto (the model decides) or required.")] = "auto",
    grammar: Annotated[bool, typer.Option("--grammar/--no-grammar", help="Constrain calls with a grammar (in-process).")] = True,
    router: Annotated[bool, typer.Option("--router/--no-router", help="Choose the function by scoring (in-process).")] = True,
    min_accuracy: Annotated[float | None, typer.Option("--min-accuracy", help="Exit 7 when accuracy is below this (0-1).")] = None,
    endpoint: EndpointOpt = None,
    api_key: ApiKeyOpt = None,
    max_tokens: Annotated[int, typer.Option("--max-tokens", min=1, help="Tokens per answer.")] = 256,
    chat_template: ChatTemplateOpt = None,
    ctx: CtxOpt = None,
    threads: ThreadsOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Run BFCL questions through the model and check the calls as BFCL's AST checker does.

    Examples:

      edgeagent eval tools --questions BFCL_v4_simple_python.json --answers possible_answer/BFCL_v4_simple_python.json

      edgeagent eval tools -q BFCL_v4_irrelevance.json --limit 50 --json > irrelevance.json

      edgeagent eval tools -q Q.json -a A.json --endpoint http://127.0.0.1:8080 --min-accuracy 0.3
    """
    from edgeagent_cli.core import bfcl
    from edgeagent_cli.core.runtime import open_runtime

    out = Output(json_)
    if tool_choice not in {"auto", "required"}:
        raise EdgeError(f"--tool-choice {tool_choice!r}: use auto or required", code=ExitCode.USAGE)
    if min_accuracy is not None and not 0 <= min_accuracy <= 1:
        raise EdgeError(f"--min-accuracy {min_accuracy}: give a share between 0 and 1", code=ExitCode.USAGE)
    entries = bfcl.load_jsonl(questions)[:limit]
    truth = {a["id"]: a["ground_truth"] for a in bfcl.load_jsonl(answers)} if answers else {}
    needs_truth = [e["id"] for e in entries if not bfcl.category(e["id"]).startswith("irrelevance") and e["id"] not in truth]
    if needs_truth:
        raise EdgeError(f"no possible answer for {needs_truth[0]} ({len(needs_truth)} entries)",
                        "pass the matching --answers file", ExitCode.USAGE)  # fmt: skip
    runtime = open_runtime(model, endpoint, api_key, grammar=grammar, router=router, max_tokens=max_tokens, ctx=ctx,
                           threads=threads, chat_template=chat_template, on_info=out.info)  # fmt: skip
    rows: list[dict[str, Any]] = []
    try:
        for n, entry in enumerate(entries, 1):
            row = bfcl.run_entry(runtime, entry, truth.get(entry["id"]), tool_choice)
            rows.append(row)
            mark = "ok" if row["correct"] else "x "
            out.info(f"[{n}/{len(entries)}] {mark} {row['id']}: {_calls_text(row)}{'' if row['correct'] else '  (' + str(row['error']) + ')'}")
    except KeyboardInterrupt:
        out.warn(f"interrupted after {len(rows)} entries: the figures cover those")
        _report(out, runtime, rows, grammar, router, tool_choice)
        raise typer.Exit(int(ExitCode.INTERRUPTED)) from None
    finally:
        runtime.close()
    doc = _report(out, runtime, rows, grammar, router, tool_choice, emit=False)
    if min_accuracy is not None and (doc["accuracy"] or 0) < min_accuracy:
        raise EdgeError(f"accuracy {doc['accuracy']:.1%} is below --min-accuracy {min_accuracy:.1%}",
                        code=ExitCode.GATE, data=doc)  # fmt: skip
    out.document(doc, lambda o: _render(o, doc))


def _calls_text(row: dict[str, Any]) -> str:
    import json

    if not row["attempted"]:
        return "(no call)"
    return "; ".join(f"{c['name']}({json.dumps(c['arguments'], ensure_ascii=False)[1:-1]})" for c in row["calls"])[:160]


def _report(out: Output, runtime: Any, rows: list[dict[str, Any]], grammar: bool, router: bool, tool_choice: str,
            emit: bool = True) -> dict[str, Any]:  # fmt: skip
    from edgeagent_cli.core import bfcl

    doc = {"model": runtime.name, "settings": {"grammar": grammar, "router": router, "tool_choice": tool_choice},
           **bfcl.summarize(rows), "entries": rows}  # fmt: skip
    if emit:
        out.document(doc, lambda o: _render(o, doc))
    return doc


def _render(out: Output, doc: dict[str, Any]) -> None:
    def pct(x: float | None) -> str:
        return "-" if x is None else f"{x:.1%}"

    rows = [(c, v["entries"], pct(v["accuracy"]), pct(v["call_rate"]), pct(v["well_formed"]))
            for c, v in doc["by_category"].items()]  # fmt: skip
    out.table(["category", "entries", "accuracy", "called", "well-formed"], rows, title=f"BFCL: {doc['model']}")
    out.line(f"accuracy {pct(doc['accuracy'])}, well-formed calls {pct(doc['well_formed'])}, "
             f"{doc['seconds_per_entry'] or 0:.2f} s per entry")  # fmt: skip
