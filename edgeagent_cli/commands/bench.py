"""`edgeagent bench`: throughput and latency, in-process (llama-bench's figures) or of an endpoint."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from edgeagent_cli.errors import EdgeError, ExitCode
from edgeagent_cli.options import ApiKeyOpt, EndpointOpt, GpuLayersOpt, JsonOpt
from edgeagent_cli.output import Output, human_bytes

IntList = Annotated[str, typer.Option(help="Comma-separated list.")]


def _ints(text: str, flag: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError as e:
        raise EdgeError(f"invalid {flag} {text!r}", "use comma-separated integers, e.g. 1,2", ExitCode.USAGE) from e
    if any(v < 0 for v in values):
        raise EdgeError(f"invalid {flag} {text!r}: negative", code=ExitCode.USAGE)
    return values


def bench(
    models: Annotated[list[str] | None, typer.Argument(help="Stored model names or .gguf paths (default: most recently pulled).")] = None,
    threads: Annotated[str | None, typer.Option("--threads", "-t", help="Thread counts, e.g. 1,2 (default: physical cores).")] = None,
    n_prompt: Annotated[str, typer.Option("--n-prompt", "-p", help="Prompt lengths for pp tests.")] = "512",
    n_gen: Annotated[str, typer.Option("--n-gen", "-n", help="Generation lengths for tg tests.")] = "128",
    reps: Annotated[int, typer.Option("--reps", "-r", min=1, help="Repetitions (one warm-up run is extra).")] = 5,
    gpu_layers: GpuLayersOpt = None,
    latency: Annotated[bool, typer.Option("--latency/--no-latency", help="Also time a real chat request (TTFT, E2E).")] = True,
    endpoint: EndpointOpt = None,
    api_key: ApiKeyOpt = None,
    concurrency: Annotated[int, typer.Option("--concurrency", min=1, help="Endpoint mode: parallel requests.")] = 1,
    requests: Annotated[int, typer.Option("--requests", min=1, help="Endpoint mode: requests in all.")] = 16,
    max_tokens: Annotated[int, typer.Option("--max-tokens", min=1, help="Endpoint mode: tokens per answer.")] = 64,
    baseline: Annotated[Path | None, typer.Option("--baseline", help="A bench --json file to compare against.")] = None,
    max_regression: Annotated[float, typer.Option("--max-regression", help="Percent a figure may get worse.")] = 10.0,
    history: Annotated[bool, typer.Option("--history", help="Show the trend of earlier runs and exit.")] = False,
    csv: Annotated[bool, typer.Option("--csv", help="Print CSV.")] = False,
    md: Annotated[bool, typer.Option("--md", help="Print a Markdown table.")] = False,
    json_: JsonOpt = False,
) -> None:
    """Measure pp/tg tokens/s as llama-bench does, TTFT and E2E latency, load time and peak memory.

    Examples:

      edgeagent bench

      edgeagent bench smollm2-135m -t 1,2 -p 512 -n 128 -r 5 --json > base.json

      edgeagent bench --baseline base.json --max-regression 5

      edgeagent bench --endpoint http://127.0.0.1:8080/v1 --concurrency 4 --requests 32
    """
    out = Output(json_)
    if history:
        return _show_history(out)
    if endpoint:
        from edgeagent_cli.core.endpoint_bench import run as run_endpoint

        doc = run_endpoint(endpoint, api_key, models[0] if models else None, concurrency, requests, max_tokens)
        _finish(out, doc, baseline, max_regression, csv, md)
        return
    _in_process(out, models, threads, n_prompt, n_gen, reps, gpu_layers, latency, baseline, max_regression, csv, md)


def _in_process(out: Output, models: list[str] | None, threads: str | None, n_prompt: str, n_gen: str, reps: int,
                gpu_layers: int | None, latency: bool, baseline: Path | None, max_regression: float,
                csv: bool, md: bool) -> None:  # fmt: skip
    import resource
    import sys

    from edgeagent_cli.core import bench as core
    from edgeagent_cli.core import fit, survey
    from edgeagent_cli.core.store import Store, resolve_model

    store = Store()
    if models:
        targets = [resolve_model(m, store) for m in models]
    else:
        latest = store.latest()
        targets = [(Path(latest.path), latest)]
    machine = survey.survey()
    thread_list = _ints(threads, "--threads") if threads else [machine["recommendation"]["threads"]]
    ngl = survey.gpu_layers(machine["recommendation"], gpu_layers)
    results: list[dict[str, Any]] = []
    latencies: dict[str, Any] = {}
    memory: dict[str, Any] = {}
    try:
        for path, rec in targets:
            name = rec.name if rec else path.name
            out.info(f"benchmarking {name} ({human_bytes(path.stat().st_size)}), threads {thread_list}, {reps} reps")
            rows, load_s = core.throughput(path, thread_list, _ints(n_prompt, "-p"), _ints(n_gen, "-n"), reps, ngl,
                                           on_sample=lambda t, ns: out.info(f"  {t}: {ns / 1e6:.1f} ms"))  # fmt: skip
            for r in rows:
                r["model"] = name
            results += rows
            memory[name] = {"load_seconds": load_s}
            if latency:
                from edgeagent_cli.core.latency import chat_latency

                latencies[name] = chat_latency(path, thread_list[-1], ngl, reps=min(reps, 3))
            if rec and not rec.memory:
                _record_memory_truth(store, rec, path, thread_list[-1], fit, out)
    except KeyboardInterrupt:
        out.warn("interrupted: printing the figures measured so far")
        doc = _doc(machine, results, latencies, memory)
        out.document(doc, lambda o: _render(o, doc))
        raise typer.Exit(int(ExitCode.INTERRUPTED)) from None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * (1 if sys.platform == "darwin" else 1024)
    for m in memory.values():
        m["peak_rss_bytes"] = peak
    doc = _doc(machine, results, latencies, memory)
    _finish(out, doc, baseline, max_regression, csv, md)


def _record_memory_truth(store: Any, rec: Any, path: Path, threads: int, fit: Any, out: Output) -> None:
    """The first load of a stored model: measured peak RSS beside the estimate (models show reports both)."""
    from edgeagent_cli.core import memprobe

    ctx = 2048
    arch = {"n_layers": rec.metadata.get("n_layers"), "n_heads": rec.metadata.get("n_heads"),
            "n_kv_heads": rec.metadata.get("n_kv_heads"), "head_dim": rec.metadata.get("head_dim"),
            "hidden_size": rec.metadata.get("embedding_length"), "vocab_size": rec.metadata.get("vocab_size")}  # fmt: skip
    if None in (arch["n_layers"], arch["n_kv_heads"], arch["head_dim"]):
        return
    try:
        measured = memprobe.measure(path, ctx, threads)
    except Exception as e:  # memory truth is a bonus: never fail a bench over it
        out.warn(f"could not measure peak memory: {e}")
        return
    est = fit.estimate(rec.size_bytes, arch, ctx)["total_bytes"]
    entry = {"context": ctx, "estimated_bytes": est, "peak_rss_bytes": measured["peak_rss_bytes"],
             "error_pct": (est - measured["peak_rss_bytes"]) / measured["peak_rss_bytes"] * 100}  # fmt: skip
    store.update(rec.name, lambda r: r.memory.append(entry))


def _doc(machine: dict[str, Any], results: list[dict[str, Any]], latencies: dict[str, Any], memory: dict[str, Any]) -> dict[str, Any]:
    from edgeagent_cli.core import benchio

    b = machine["llama_cpp"]
    return {
        "hardware": benchio.fingerprint(machine),
        "build": {"llama_cpp_python": b.get("version"), "system_info": b.get("system_info"), "gpu_offload": b.get("gpu_offload")},
        "results": results,
        "latency": latencies,
        "memory": memory,
    }


def _finish(out: Output, doc: dict[str, Any], baseline: Path | None, max_regression: float, csv: bool, md: bool) -> None:
    import sys

    from edgeagent_cli.core import benchio

    benchio.append_history(doc)
    failed = benchio.regressions(doc["results"], benchio.load_baseline(baseline), max_regression) if baseline else []
    doc["regressions"] = failed
    if csv and not out.json_mode:
        sys.stdout.write(benchio.to_csv(doc["results"]))
    elif md and not out.json_mode:
        sys.stdout.write(benchio.to_markdown(doc["results"]))
    else:
        out.document(doc, lambda o: _render(o, doc))
    if failed:
        if out.json_mode:  # the document above already names the regressions
            sys.stderr.write(f"error: regression over {max_regression}%: {'; '.join(failed)}\n")
            raise typer.Exit(int(ExitCode.GATE))
        raise EdgeError(f"regression over {max_regression}%: {'; '.join(failed)}", code=ExitCode.GATE)
    if doc.get("errors_all_failed"):
        raise typer.Exit(int(ExitCode.UNREACHABLE))


def _bar(value: float, top: float, width: int = 24) -> str:
    return "█" * max(1, round(width * value / top)) if top else ""


def _render(out: Output, doc: dict[str, Any]) -> None:
    results = doc["results"]
    if results:
        top = max(r["avg_ts"] for r in results)
        out.table(["model", "test", "threads", "t/s", ""],
                  [(r["model"], r["test"], r["n_threads"], f"{r['avg_ts']:.2f} ± {r['stddev_ts']:.2f}",
                    _bar(r["avg_ts"], top)) for r in results])  # fmt: skip
    for name, lat in (doc.get("latency") or {}).items():
        out.line(f"{name}: TTFT {lat['ttft_ms']['mean']:.1f} ms, E2E {lat['e2e_ms']['mean']:.1f} ms "
                 f"({lat['output_tokens']} tokens)")  # fmt: skip
    for name, mem in (doc.get("memory") or {}).items():
        if "load_seconds" in mem:
            out.line(f"{name}: load {mem['load_seconds']:.2f} s, peak RSS {human_bytes(mem.get('peak_rss_bytes'))}")
    served = doc.get("served")
    if served:
        rows = [(k, *(f"{served[k][s]:.1f}" for s in ("mean", "p50", "p90", "p99"))) for k in ("ttft_ms", "itl_ms", "tpot_ms", "e2e_ms")]
        out.table(["ms", "mean", "p50", "p90", "p99"], rows, title=f"{doc['endpoint']} x{served['concurrency']}")
        out.line(f"{served['request_throughput']:.2f} req/s, {served['output_throughput']:.1f} tok/s, "
                 f"{served['errors']} errors of {served['requests']}")  # fmt: skip
    for r in doc.get("regressions") or []:
        out.line(f"REGRESSION {r}")


def _show_history(out: Output) -> None:
    from edgeagent_cli.core import benchio

    runs = benchio.read_history()
    rows = []
    for run in runs:
        import datetime

        when = datetime.datetime.fromtimestamp(run["time"]).strftime("%Y-%m-%d %H:%M")
        for r in run.get("results", []):
            rows.append((when, r.get("model"), r["test"], r["n_threads"], f"{r['avg_ts']:.2f}"))
    out.document({"runs": runs}, lambda o: o.table(["when", "model", "test", "threads", "t/s"], rows) if rows
                 else o.line("no bench runs recorded yet"))  # fmt: skip
