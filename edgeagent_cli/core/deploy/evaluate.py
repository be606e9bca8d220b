"""`eval route`: how often the deployment's router sends a labelled request to the right agent.

Labels are JSON lines, `{"request": "...", "agent": "scheduler"}` (an agent of the deployment, or
`fallback` for a request the device should hand to the fallback endpoint). Reported as semantic-router
reports routes: accuracy overall and per agent (recall), a confusion table, the share of requests
that escalated to the fallback, and routing seconds per request.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeagent_cli.core.deploy.route import ESCALATE, DeploymentRouter
from edgeagent_cli.core.deploy.spec import Deployment
from edgeagent_cli.core.errors import EdgeError, ExitCode
from edgeagent_cli.core.results import Result, Table
from edgeagent_cli.core.util.yaml_loader import DataFileError


@dataclass
class RouteEval(Result):
    deployment: str
    labels: str
    method: str
    router_model: str | None
    requests: int
    correct: int
    accuracy: float
    escalated_share: float
    seconds_per_request: dict[str, float]
    per_agent: dict[str, dict[str, Any]]
    confusion: dict[str, dict[str, int]]
    mistakes: list[dict[str, str]] = field(default_factory=list)

    def table(self) -> Table:
        rows = [[a, v["requests"], v["correct"], v["accuracy"]] for a, v in self.per_agent.items()]
        rows.append(["(all)", self.requests, self.correct, self.accuracy])
        return Table(["agent", "requests", "correct", "accuracy"], rows)


def load_labels(path: Path, dep: Deployment) -> list[tuple[str, str]]:
    known = set(dep.agent_names()) | {ESCALATE}
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as e:
        raise EdgeError(f"no such labels file: {path}", code=ExitCode.NOT_FOUND) from e
    except (OSError, UnicodeDecodeError) as e:
        raise EdgeError(f"cannot read {path}: {e}", code=ExitCode.USAGE) from e
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            row = json.loads(line)
        except ValueError as e:
            raise DataFileError(path, n, None, f"not JSON: {e}") from e
        if not isinstance(row, dict) or not isinstance(row.get("request"), str) or not row["request"].strip():
            raise DataFileError(path, n, "request", 'expected {"request": TEXT, "agent": NAME}')
        if row.get("agent") not in known:
            raise DataFileError(
                path, n, "agent", f"unknown agent {row.get('agent')!r} (agents: {', '.join(sorted(known))})"
            )
        out.append((row["request"], row["agent"]))
    if not out:
        raise DataFileError(path, 1, None, "no labelled requests")
    return out


def evaluate(dep: Deployment, router: DeploymentRouter, labels: list[tuple[str, str]], path: Path) -> RouteEval:
    names = [*dep.agent_names(), ESCALATE]
    confusion = {a: dict.fromkeys(names, 0) for a in names}
    seconds = []
    mistakes = []
    for request, want in labels:
        routed = router.route(request)
        seconds.append(routed.seconds)
        confusion[want][routed.agent] += 1
        if routed.agent != want:
            mistakes.append({"request": request, "label": want, "routed": routed.agent})
    correct = sum(confusion[a][a] for a in names)
    per_agent = {}
    for a in names:
        total = sum(confusion[a].values())
        if total:
            per_agent[a] = {
                "requests": total,
                "correct": confusion[a][a],
                "accuracy": round(confusion[a][a] / total, 4),
            }
    escalated = sum(confusion[a][ESCALATE] for a in names)
    return RouteEval(
        dep.name,
        str(path),
        router.method,
        dep.router.model if router.method != "keywords" else None,
        len(labels),
        correct,
        round(correct / len(labels), 4),
        round(escalated / len(labels), 4),
        {
            "mean": round(statistics.fmean(seconds), 4),
            "p50": round(statistics.median(seconds), 4),
            "max": round(max(seconds), 4),
        },
        per_agent,
        {a: {b: n for b, n in row.items() if n} for a, row in confusion.items() if any(row.values())},
        mistakes,
    )
