"""`edgeagent eval tools`: tool-calling accuracy on Berkeley Function Calling Leaderboard files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from edgeagent_cli.cli.options import (
    ApiKeyOpt,
    ChatTemplateOpt,
    CtxOpt,
    EndpointOpt,
    GrammarOpt,
    JsonOpt,
    OptionalModelArg,
    ProfileOpt,
    RouterOpt,
    ThreadsOpt,
    TrustTemplateOpt,
    VerboseOpt,
)
from edgeagent_cli.cli.output import Output
from edgeagent_cli.core.errors import EdgeError, ExitCode, Interrupted

app = typer.Typer(help="Evaluate models: tool-calling accuracy.", no_args_is_help=True)

QuestionsOpt = Annotated[Path, typer.Option("--questions", "-q", help="BFCL question file (JSON lines).")]
AnswersOpt = Annotated[
    Path | None, typer.Option("--answers", "-a", help="BFCL possible-answer file (not needed for irrelevance).")
]
LimitOpt = Annotated[int | None, typer.Option("--limit", "-n", min=1, help="Only the first N entries.")]
ToolChoiceOpt = Annotated[str, typer.Option("--tool-choice", help="auto (the model decides) or required.")]
MinAccuracyOpt = Annotated[
    float | None, typer.Option("--min-accuracy", help="Exit 7 when accuracy is below this (0-1).")
]
MaxTokensOpt = Annotated[int, typer.Option("--max-tokens", min=1, help="Tokens per answer.")]


@app.command("tools")
def tools(
    questions: QuestionsOpt,
    model: OptionalModelArg = None,
    answers: AnswersOpt = None,
    limit: LimitOpt = None,
    tool_choice: ToolChoiceOpt = "auto",
    grammar: GrammarOpt = True,
    router: RouterOpt = True,
    min_accuracy: MinAccuracyOpt = None,
    endpoint: EndpointOpt = None,
    api_key: ApiKeyOpt = None,
    max_tokens: MaxTokensOpt = 256,
    chat_template: ChatTemplateOpt = None,
    trust_template: TrustTemplateOpt = False,
    ctx: CtxOpt = None,
    threads: ThreadsOpt = None,
    profile: ProfileOpt = None,
    verbose: VerboseOpt = False,
    json_: JsonOpt = False,
) -> None:
    """Run BFCL questions through the model and check the calls as BFCL's AST checker does.

    Examples:

      edgeagent eval tools --questions BFCL_v4_simple_python.json --answers possible_answer/BFCL_v4_simple_python.json

      edgeagent eval tools -q BFCL_v4_irrelevance.json --limit 50 --json > irrelevance.json

      edgeagent eval tools -q Q.json -a A.json --endpoint http://127.0.0.1:8080 --min-accuracy 0.3
    """
    from edgeagent_cli.cli.settings import settings
    from edgeagent_cli.core.agent import eval as bfcl
    from edgeagent_cli.core.agent.runtime.open import RuntimeConfig, open_runtime

    out = Output(json_)
    if tool_choice not in {"auto", "required"}:
        raise EdgeError(f"--tool-choice {tool_choice!r}: use auto or required", code=ExitCode.USAGE)
    if min_accuracy is not None and not 0 <= min_accuracy <= 1:
        raise EdgeError(f"--min-accuracy {min_accuracy}: give a share between 0 and 1", code=ExitCode.USAGE)
    entries, truth = bfcl.load(questions, answers, limit)
    resolved = settings(out, verbose, profile, context=ctx, threads=threads)
    cfg = RuntimeConfig(model, endpoint, api_key, grammar, router, max_tokens, chat_template, trust_template)
    runtime = open_runtime(cfg, resolved, out.info)
    described = {"grammar": grammar, "router": router, "tool_choice": tool_choice, **resolved.to_dict()}
    try:
        result = bfcl.evaluate(
            runtime, entries, truth, tool_choice, described, lambda n, row: out.info(_progress(n, len(entries), row))
        )
    except Interrupted as stop:
        partial = stop.partial
        if not json_:  # the figures so far, as a table; with --json the error document carries them
            out.emit(partial, lambda o: _render(o, partial))
        raise
    finally:
        runtime.close()
    if min_accuracy is not None and (result.accuracy or 0) < min_accuracy:
        raise EdgeError(
            f"accuracy {result.accuracy or 0:.1%} is below --min-accuracy {min_accuracy:.1%}",
            code=ExitCode.GATE,
            data=result,
        )
    out.emit(result, lambda o: _render(o, result))


def _progress(n: int, total: int, row: dict[str, Any]) -> str:
    import json

    if not row["attempted"]:
        calls = "(no call)"
    else:
        calls = "; ".join(f"{c['name']}({json.dumps(c['arguments'], ensure_ascii=False)[1:-1]})" for c in row["calls"])
    mark, why = ("ok", "") if row["correct"] else ("x ", f"  ({row['error']})")
    return f"[{n}/{total}] {mark} {row['id']}: {calls[:160]}{why}"


def _render(out: Output, result: Any) -> None:
    def pct(x: float | None) -> str:
        return "-" if x is None else f"{x:.1%}"

    doc = result.fields()
    rows = [
        (c, v["entries"], pct(v["accuracy"]), pct(v["call_rate"]), pct(v["well_formed"]))
        for c, v in doc["by_category"].items()
    ]
    out.table(["category", "entries", "accuracy", "called", "well-formed"], rows, title=f"BFCL: {doc['model']}")
    out.line(
        f"accuracy {pct(doc['accuracy'])}, well-formed calls {pct(doc['well_formed'])}, "
        f"{doc['seconds_per_entry'] or 0:.2f} s per entry"
    )
