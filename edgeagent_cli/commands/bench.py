"""`edgeagent bench`: throughput and latency, in-process (llama-bench's figures) or of an endpoint."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from edgeagent_cli.cli.options import ApiKeyOpt, EndpointOpt, GpuLayersOpt, JsonOpt, ProfileOpt, VerboseOpt
from edgeagent_cli.cli.output import Output, human_bytes
from edgeagent_cli.core.errors import EdgeError, ExitCode, Interrupted

if TYPE_CHECKING:
    from edgeagent_cli.core.bench.results import BenchHistory, BenchResult

ModelsArg = Annotated[
    list[str] | None, typer.Argument(help="Stored model names or .gguf paths (default: most recently pulled).")
]
ThreadListOpt = Annotated[
    str | None, typer.Option("--threads", "-t", help="Thread counts, e.g. 1,2 (default: the settings' threads).")
]
PromptsOpt = Annotated[str, typer.Option("--n-prompt", "-p", help="Prompt lengths for pp tests.")]
GensOpt = Annotated[str, typer.Option("--n-gen", "-n", help="Generation lengths for tg tests.")]
RepsOpt = Annotated[int, typer.Option("--reps", "-r", min=1, help="Repetitions (one warm-up run is extra).")]
LatencyOpt = Annotated[bool, typer.Option("--latency/--no-latency", help="Also time a real chat request (TTFT, E2E).")]
ConcurrencyOpt = Annotated[int, typer.Option("--concurrency", min=1, help="Endpoint mode: parallel requests.")]
RequestsOpt = Annotated[int, typer.Option("--requests", min=1, help="Endpoint mode: requests in all.")]
MaxTokensOpt = Annotated[int, typer.Option("--max-tokens", min=1, help="Endpoint mode: tokens per answer.")]
BaselineOpt = Annotated[Path | None, typer.Option("--baseline", help="A bench --json file to compare against.")]
RegressionOpt = Annotated[float, typer.Option("--max-regression", help="Percent a figure may get worse.")]
HistoryOpt = Annotated[bool, typer.Option("--history", help="Show the trend of earlier runs and exit.")]
CsvOpt = Annotated[bool, typer.Option("--csv", help="Print CSV.")]
MdOpt = Annotated[bool, typer.Option("--md", help="Print a Markdown table.")]


def _ints(text: str, flag: str, least: int = 0) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError as e:
        raise EdgeError(f"invalid {flag} {text!r}", "use comma-separated integers, e.g. 1,2", ExitCode.USAGE) from e
    if not values or any(v < least for v in values):
        raise EdgeError(f"invalid {flag} {text!r}: each value must be at least {least}", code=ExitCode.USAGE)
    return values


def bench(
    models: ModelsArg = None,
    threads: ThreadListOpt = None,
    n_prompt: PromptsOpt = "512",
    n_gen: GensOpt = "128",
    reps: RepsOpt = 5,
    gpu_layers: GpuLayersOpt = None,
    latency: LatencyOpt = True,
    endpoint: EndpointOpt = None,
    api_key: ApiKeyOpt = None,
    concurrency: ConcurrencyOpt = 1,
    requests: RequestsOpt = 16,
    max_tokens: MaxTokensOpt = 64,
    baseline: BaselineOpt = None,
    max_regression: RegressionOpt = 10.0,
    history: HistoryOpt = False,
    csv: CsvOpt = False,
    md: MdOpt = False,
    profile: ProfileOpt = None,
    verbose: VerboseOpt = False,
    json_: JsonOpt = False,
) -> None:
    """Measure pp/tg tokens/s as llama-bench does, TTFT and E2E latency, load time and peak memory.

    Examples:

      edgeagent bench

      edgeagent bench smollm2-135m -t 1,2 -p 512 -n 128 -r 5 --json > base.json

      edgeagent bench --baseline base.json --max-regression 5

      edgeagent bench --endpoint http://127.0.0.1:8080/v1 --concurrency 4 --requests 32
    """
    from edgeagent_cli.core.bench import run

    out = Output(json_)
    fmt = "csv" if csv else "md" if md else None
    if history:
        from edgeagent_cli.core.bench.results import read_history

        runs = read_history()
        out.emit(runs, lambda o: _render_history(o, runs))
        return
    from edgeagent_cli.core.bench.results import load_baseline

    base = load_baseline(baseline) if baseline else None  # a bad baseline fails before the measuring
    if endpoint:
        result = run.run_endpoint(endpoint, api_key, models[0] if models else None, concurrency, requests, max_tokens)
    else:
        from edgeagent_cli.cli.settings import settings

        resolved = settings(out, verbose, profile, gpu_layers=gpu_layers)
        thread_list = _ints(threads, "--threads", least=1) if threads else [int(resolved["threads"])]
        plan = run.Plan(thread_list, _ints(n_prompt, "-p"), _ints(n_gen, "-n"), reps, latency)
        try:
            result = run.run_local(models, plan, resolved, out.info)
        except Interrupted as stop:
            partial = stop.partial
            assert isinstance(partial, run.BenchResult)
            if not json_:  # the figures so far, as a table; with --json the error document carries them
                out.emit(partial, lambda o: _render(o, partial), fmt)
            raise
    run.gate(result, base, max_regression)
    failure = run.gate_error(result, max_regression)
    if failure is not None and out.json_mode:
        failure.data = result  # one document: the figures and the error
        raise failure
    out.emit(result, lambda o: _render(o, result), fmt)
    if failure is not None:
        raise failure


def _bar(value: float, top: float, width: int = 24) -> str:
    return "█" * max(1, round(width * value / top)) if top else ""


def _render(out: Output, result: BenchResult) -> None:
    if result.results:
        top = max(r["avg_ts"] for r in result.results)
        rows = []
        for r in result.results:
            figure = f"{r['avg_ts']:.2f} ± {r['stddev_ts']:.2f}"
            rows.append((r["model"], r["test"], r["n_threads"], figure, _bar(r["avg_ts"], top)))
        out.table(["model", "test", "threads", "t/s", ""], rows)
    for name, lat in result.latency.items():
        out.line(
            f"{name}: TTFT {lat['ttft_ms']['mean']:.1f} ms, E2E {lat['e2e_ms']['mean']:.1f} ms "
            f"({lat['output_tokens']} tokens)"
        )
    for name, mem in result.memory.items():
        if "load_seconds" in mem:
            out.line(f"{name}: load {mem['load_seconds']:.2f} s, peak RSS {human_bytes(mem.get('peak_rss_bytes'))}")
    served = result.served
    if served:
        figures = ("ttft_ms", "itl_ms", "tpot_ms", "e2e_ms")
        served_rows = [[k, *(f"{served[k][s]:.1f}" for s in ("mean", "p50", "p90", "p99"))] for k in figures]
        out.table(["ms", "mean", "p50", "p90", "p99"], served_rows, title=f"{result.endpoint} x{served['concurrency']}")
        out.line(
            f"{served['request_throughput']:.2f} req/s, {served['output_throughput']:.1f} tok/s, "
            f"{served['errors']} errors of {served['requests']}"
        )
    for regression in result.regressions:
        out.line(f"REGRESSION {regression}")


def _render_history(out: Output, history: BenchHistory) -> None:
    import datetime

    rows = []
    for run in history.runs:
        when = datetime.datetime.fromtimestamp(run["time"]).strftime("%Y-%m-%d %H:%M")
        for r in run.get("results", []):
            rows.append((when, r.get("model"), r["test"], r["n_threads"], f"{r['avg_ts']:.2f}"))
    if rows:
        out.table(["when", "model", "test", "threads", "t/s"], rows)
    else:
        out.line("no bench runs recorded yet")
