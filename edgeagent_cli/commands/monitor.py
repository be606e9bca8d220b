"""`edgeagent monitor`: a live view of servers and deployments, one JSON snapshot, or a threshold check."""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer

from edgeagent_cli.cli.options import ApiKeyOpt, JsonOpt
from edgeagent_cli.cli.output import Output, stdout_is_terminal
from edgeagent_cli.core.errors import EdgeError, ExitCode


def monitor(
    urls: Annotated[
        list[str] | None,
        typer.Argument(help="Endpoints to watch: edgeagent serve, llama-server, vLLM, Ollama, any OpenAI server."),
    ] = None,
    deployment: Annotated[
        str | None, typer.Option("--deployment", help="Watch this deployment's server or nodes, with its thresholds.")
    ] = None,
    check: Annotated[
        bool, typer.Option("--check", help="Evaluate the thresholds once; exit 7 naming each one violated.")
    ] = False,
    threshold: Annotated[
        list[str] | None,
        typer.Option(
            "--threshold",
            help="KEY=VALUE over the deployment's: ttft_p95_ms, response_time_ms, "
            "error_rate, memory_percent, min_tokens_per_s (repeatable).",
        ),
    ] = None,  # fmt: skip
    interval: Annotated[float, typer.Option("--interval", min=0.2, help="Seconds between refreshes.")] = 10.0,
    window: Annotated[
        float, typer.Option("--window", min=0.1, help="--json/--check: seconds between the two samples rates need.")
    ] = 1.0,
    count: Annotated[int | None, typer.Option("--count", min=1, help="Stop after this many refreshes.")] = None,
    api_key: ApiKeyOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Health, requests/s, TTFT and end-to-end p50/p95, tokens/s, error rate, memory and loaded models
    of every managed server and deployment (or of the URLs given), refreshed every --interval.

    Alerts (a threshold crossed, a target not answering) are appended to EDGEAGENT_HOME/logs/alerts.jsonl.

    Examples:

      edgeagent monitor

      edgeagent monitor --deployment edge-assistant --check

      edgeagent monitor http://127.0.0.1:11434 http://gpu-box:8000/v1 --json

      edgeagent monitor --check --threshold ttft_p95_ms=500 --threshold error_rate=0.01
    """
    from edgeagent_cli.core.monitor import watch

    out = Output(json_)
    overrides = _thresholds(threshold or [])
    found = watch.targets(urls or [], deployment, api_key)
    if not found:
        raise EdgeError("nothing to monitor: no server or deployment is running", "pass a URL, or `edgeagent serve start`",
                        ExitCode.NOT_FOUND)  # fmt: skip
    watcher = watch.Watcher(found, overrides)
    if json_ or check:
        watcher.step()
        time.sleep(window)
        snap = watcher.step()
        watch.record(snap.alerts)
        if check and snap.alerts:
            names = "; ".join(a.message for a in snap.alerts)
            raise EdgeError(f"{len(snap.alerts)} threshold(s) violated: {names}", code=ExitCode.GATE, data=snap)
        out.emit(snap, lambda o: _print(o, snap))
        return
    _live(out, watcher, interval, count)


def _thresholds(items: list[str]) -> dict[str, float]:
    from edgeagent_cli.core.monitor.watch import THRESHOLDS

    found = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or key not in THRESHOLDS:
            raise EdgeError(f"invalid --threshold {item!r}", f"KEY=VALUE with KEY one of {', '.join(THRESHOLDS)}",
                            ExitCode.USAGE)  # fmt: skip
        try:
            found[key] = float(value)
        except ValueError:
            raise EdgeError(f"invalid --threshold {item!r}: {value!r} is not a number", code=ExitCode.USAGE) from None
    return found


def _print(o: Output, snap: Any) -> None:
    t = snap.table()
    o.table(t.columns, t.rows)
    for a in snap.alerts:
        o.line(f"ALERT {a.message}")


def _live(out: Output, watcher: Any, interval: float, count: int | None) -> None:
    """A Rich view redrawn in place on a terminal; elsewhere one table per refresh. Ctrl-C ends it."""
    from edgeagent_cli.core.monitor import watch

    n = 0
    try:
        watcher.step()  # the first sample only opens the window
        if not stdout_is_terminal():
            while count is None or n < count:
                time.sleep(interval)
                snap = watcher.step()
                watch.record(snap.alerts)
                _print(out, snap)
                n += 1
            return
        from rich.console import Console
        from rich.live import Live

        console = Console()
        with Live(console=console, auto_refresh=False) as live:
            while count is None or n < count:
                time.sleep(interval)
                snap = watcher.step()
                watch.record(snap.alerts)
                live.update(_view(snap), refresh=True)
                n += 1
    except KeyboardInterrupt:
        return


def _view(snap: Any) -> Any:
    from rich.table import Table as RichTable

    from edgeagent_cli.core.monitor import watch

    t = snap.table()
    table = RichTable(title=f"edgeagent monitor  {time.strftime('%H:%M:%S', time.localtime(snap.at))}")
    for c in [*t.columns, "req/s trend"]:
        table.add_column(c)
    for row, cells in zip(snap.targets, t.rows, strict=True):
        style = None if row.healthy else "red"
        table.add_row(*(str(c) for c in cells), watch.sparkline(row.history), style=style)
    if snap.alerts:
        from rich.console import Group
        from rich.text import Text

        return Group(table, *(Text(f"ALERT {a.message}", style="bold red") for a in snap.alerts))
    return table
