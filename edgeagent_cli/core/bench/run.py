"""A whole `edgeagent bench` run: resolve the models and settings, measure, gate against a baseline."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from edgeagent_cli.core.bench import results as bench_results
from edgeagent_cli.core.bench.results import BenchResult
from edgeagent_cli.core.errors import EdgeError, ExitCode, Interrupted
from edgeagent_cli.core.settings import Settings

Info = Callable[[str], None]


@dataclass
class Plan:
    """What to measure: pp/tg sizes, thread counts, repetitions, and whether to time a chat request."""

    threads: list[int]
    prompts: list[int] = field(default_factory=lambda: [512])
    gens: list[int] = field(default_factory=lambda: [128])
    reps: int = 5
    latency: bool = True


def _info(_: str) -> None:
    return None


def run_local(models: list[str] | None, plan: Plan, settings: Settings, on_info: Info = _info) -> BenchResult:
    """Every model, every thread count, as llama-bench does; then TTFT/E2E and peak memory.

    Ctrl-C raises Interrupted with the figures measured so far.
    """
    from edgeagent_cli.core.bench import latency, memory, throughput
    from edgeagent_cli.core.hardware import llama_build
    from edgeagent_cli.core.models.store import Store, resolve_model
    from edgeagent_cli.core.util.process import peak_rss_bytes

    store = Store()
    targets = [resolve_model(m, store) for m in models] if models else [resolve_model(None, store)]
    build = llama_build.probe()
    result = BenchResult(
        hardware=bench_results.fingerprint(settings.machine),
        build={
            "llama_cpp_python": build.get("version"),
            "system_info": build.get("system_info"),
            "gpu_offload": build.get("gpu_offload"),
        },
        settings=settings.to_dict(),
    )
    ngl, batch, flash = int(settings["gpu_layers"]), int(settings["batch"]), settings["flash_attn"]
    try:
        for path, rec in targets:
            name = rec.name if rec else path.name
            on_info(
                f"benchmarking {name} ({path.stat().st_size / 2**20:.2f} MiB), threads {plan.threads}, {plan.reps} reps"
            )
            rows, load_s = throughput.throughput(
                path,
                plan.threads,
                plan.prompts,
                plan.gens,
                plan.reps,
                ngl,
                flash_attn=flash,
                n_batch=batch,
                on_sample=lambda t, ns: on_info(f"  {t}: {ns / 1e6:.1f} ms"),
            )
            result.results += [{**r, "model": name} for r in rows]
            result.memory[name] = {"load_seconds": load_s}
            if plan.latency:
                result.latency[name] = latency.chat_latency(path, plan.threads[-1], ngl, reps=min(plan.reps, 3))
            if len(targets) > 1:  # the process's peak so far: it includes the models benched before this one
                result.memory[name]["process_peak_rss_bytes"] = peak_rss_bytes()
            if rec and not rec.memory:
                warning = memory.record_truth(rec, path, plan.threads[-1])
                if warning:
                    on_info(f"warning: {warning}")
    except KeyboardInterrupt:
        raise Interrupted(result, "interrupted: printing the figures measured so far") from None
    if len(result.memory) == 1:  # one model in this process: its peak is the process's
        for m in result.memory.values():
            m["peak_rss_bytes"] = peak_rss_bytes()
    return result


def run_endpoint(
    url: str, api_key: str | None, model: str | None, concurrency: int, requests: int, max_tokens: int
) -> BenchResult:
    from edgeagent_cli.core.bench import endpoint

    return endpoint.run(url, api_key, model, concurrency, requests, max_tokens)


def gate(result: BenchResult, baseline: dict[str, Any] | None, max_regression: float) -> None:
    """Record the run in the history; name every figure that fell more than max_regression % below the baseline."""
    bench_results.append_history(result)
    if baseline is not None:
        result.regressions = bench_results.regressions(result.results, baseline, max_regression)


def gate_error(result: BenchResult, max_regression: float) -> EdgeError | None:
    """The failure a finished run ends with: a regression (exit 7), or an endpoint that answered nothing (exit 5)."""
    if result.regressions:
        return EdgeError(f"regression over {max_regression}%: {'; '.join(result.regressions)}", code=ExitCode.GATE)
    if result.all_failed:
        errors = (result.served or {}).get("error_samples") or []
        return EdgeError(
            f"every request to {result.endpoint} failed: {errors[0] if errors else ''}", code=ExitCode.UNREACHABLE
        )
    return None
