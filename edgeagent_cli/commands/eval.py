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

QuestionsOpt = Annotated[
    Path,
    typer.Option(
        "--questions", "-q", help="BFCL question file (JSON lines), or a directory of BFCL_v4_<category>.json files."
    ),
]
AnswersOpt = Annotated[
    Path | None,
    typer.Option("--answers", "-a", help="Possible-answer file (default: possible_answer/<same name> beside -q)."),
]
CategoryOpt = Annotated[
    list[str] | None,
    typer.Option("--category", help="Only these categories of a -q directory (repeat, or a,b,c)."),
]
CompareOpt = Annotated[
    Path | None,
    typer.Option("--compare", help="An earlier `eval tools --json` document: print each category's change."),
]
LimitOpt = Annotated[int | None, typer.Option("--limit", "-n", min=1, help="Only the first N entries of each file.")]
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
    category: CategoryOpt = None,
    limit: LimitOpt = None,
    compare: CompareOpt = None,
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

      edgeagent eval tools --questions bfcl/ --json > run.json      (every category in the directory)

      edgeagent eval tools -q bfcl/ --category simple_python,irrelevance --compare run.json

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
    categories = [c.strip() for item in category or [] for c in item.split(",") if c.strip()] or None
    entries, truth = bfcl.load(questions, answers, limit, categories)
    earlier = bfcl.load_earlier(compare) if compare is not None else None
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
    if compare is not None and earlier is not None:
        result.compared = bfcl.compare(compare, earlier, bfcl.summarize(result.rows))
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
        (
            c,
            v["entries"],
            pct(v["accuracy"]),
            pct(v["call_rate"]),
            pct(v["well_formed"]),
            v["seconds_per_entry"],
            v["median_seconds"],
        )
        for c, v in doc["by_category"].items()
    ]
    cols = ["category", "entries", "accuracy", "called", "well-formed", "s/entry", "median s"]
    out.table(cols, rows, title=f"BFCL: {doc['model']}")
    out.line(
        f"accuracy {pct(doc['accuracy'])}, well-formed calls {pct(doc['well_formed'])}, "
        f"{doc['seconds_per_entry'] or 0:.2f} s per entry"
    )
    if doc.get("compare"):
        out.line(f"against {doc['compare']['file']}:")
        for cat, change in doc["compare"]["by_category"].items():
            acc, sec = change["accuracy"], change["seconds_per_entry"]
            if acc["before"] is None:
                out.line(f"  {cat}: not in the earlier run")
                continue
            out.line(
                f"  {cat}: accuracy {pct(acc['before'])} -> {pct(acc['now'])} ({(acc['change'] or 0) * 100:+.1f} points), "
                f"{sec['before'] or 0:.2f} -> {sec['now'] or 0:.2f} s per entry"
            )


@app.command("route")
def route(
    deployment: Annotated[str, typer.Option("--deployment", help="Deployment YAML, or a shipped example's name.")],
    labels: Annotated[
        Path | None,
        typer.Option(
            "--labels", help='JSON lines {"request": ..., "agent": ...} (default: NAME.labels.jsonl beside it).'
        ),
    ] = None,
    method: Annotated[
        str | None, typer.Option("--method", help="Override the router's method: likelihood, classifier, keywords.")
    ] = None,
    stand_in: Annotated[
        str | None, typer.Option("--stand-in", help="Run this stored model in place of the router model.")
    ] = None,
    min_accuracy: MinAccuracyOpt = None,
    ctx: CtxOpt = None,
    threads: ThreadsOpt = None,
    profile: ProfileOpt = None,
    verbose: VerboseOpt = False,
    json_: JsonOpt = False,
) -> None:
    """Routing accuracy of a deployment's router on labelled requests: overall, per agent, a confusion
    table, the share escalated to the fallback, and seconds per request.

    Examples:

      edgeagent eval route --deployment edge-assistant --stand-in smollm2-135m

      edgeagent eval route --deployment my.yaml --labels my-labels.jsonl --min-accuracy 0.8 --json

      edgeagent eval route --deployment edge-assistant --method keywords
    """
    from edgeagent_cli.cli.settings import deployment_settings
    from edgeagent_cli.core.agent.runtime.open import llama_kwargs
    from edgeagent_cli.core.deploy import evaluate, run
    from edgeagent_cli.core.deploy.route import ROUTER_METHODS
    from edgeagent_cli.core.deploy.spec import load_deployment

    out = Output(json_)
    if min_accuracy is not None and not 0 <= min_accuracy <= 1:
        raise EdgeError(f"--min-accuracy {min_accuracy}: give a share between 0 and 1", code=ExitCode.USAGE)
    if method is not None and method not in ROUTER_METHODS:
        raise EdgeError(f"unknown --method {method!r}", f"use one of: {', '.join(ROUTER_METHODS)}", ExitCode.USAGE)
    dep = load_deployment(deployment)
    if method:
        if method == "keywords" and not any(a.keywords for a in dep.agents):
            raise EdgeError("--method keywords: the deployment's agents have no keywords", code=ExitCode.USAGE)
        dep.router.method = method
    path = labels or dep.path.with_name(f"{dep.path.stem}.labels.jsonl")
    rows = evaluate.load_labels(path, dep)
    resolved = deployment_settings(out, dep, verbose, profile, context=ctx, threads=threads)
    router, runtime = run.open_router(dep, run.where_for(dep, stand_in, router_only=True), llama_kwargs(resolved))
    try:
        result = evaluate.evaluate(dep, router, rows, path)
    finally:
        if runtime is not None:
            runtime.close()
    if min_accuracy is not None and result.accuracy < min_accuracy:
        raise EdgeError(
            f"routing accuracy {result.accuracy:.1%} is below --min-accuracy {min_accuracy:.1%}",
            code=ExitCode.GATE,
            data=result,
        )

    def human(o: Output) -> None:
        t = result.table()
        o.table(t.columns, t.rows, title=f"routing: {result.deployment} ({result.method}, {result.router_model})")
        names = list(result.confusion)
        o.table(["label \\ routed", *names], [[a, *(result.confusion[a].get(b, 0) for b in names)] for a in names])
        o.line(
            f"accuracy {result.accuracy:.1%} ({result.correct}/{result.requests}), escalated "
            f"{result.escalated_share:.1%}, {result.seconds_per_request['mean']:.3f} s per request"
        )

    out.emit(result, human)
