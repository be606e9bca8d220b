"""Choose the deployment router's keyword weight by cross-validation on a labelled set, and compare methods.

    .venv/bin/python benchmarks/route_methods.py MODEL.gguf [DEPLOYMENT.yaml] [LABELS.jsonl] [--folds 5]

The likelihood router scores each agent as pmi(request, agent description) + w * keyword hits
(route.KEYWORD_WEIGHT). pmi is computed once per request and agent with the given model; then, for
each of K folds (requests shuffled with a fixed seed), w is chosen from a grid on the other folds
and measured on the held-out one. Prints mean, min and max over folds for pmi alone (w = 0),
keywords alone, and the chosen w; writes benchmarks/results/route_methods.json.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from edgeagent_cli.core.agent.runtime.local import LocalRuntime  # noqa: E402
from edgeagent_cli.core.deploy.evaluate import load_labels  # noqa: E402
from edgeagent_cli.core.deploy.route import agent_prefix, keyword_hits  # noqa: E402
from edgeagent_cli.core.deploy.spec import load_file  # noqa: E402

GRID = [0.0, 0.5, 1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 20.0]


def accuracy(rows: list[dict], w: float | None) -> float:
    """w None: keywords alone (ties and no hit -> the default agent)."""
    right = 0
    for r in rows:
        if w is None:
            best = max(r["hits"], key=lambda a: r["hits"][a])
            pick = best if r["hits"][best] else r["default"]
        else:
            pick = max(r["pmi"], key=lambda a: r["pmi"][a] + w * r["hits"][a])
        right += pick == r["label"]
    return right / len(rows)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("deployment", nargs="?", default=str(ROOT / "deployments/edge-assistant.yaml"))
    ap.add_argument("labels", nargs="?")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--out", default=str(ROOT / "benchmarks/results/route_methods.json"))
    a = ap.parse_args()
    dep = load_file(Path(a.deployment))
    labels_path = Path(a.labels) if a.labels else dep.path.with_name(f"{dep.path.stem}.labels.jsonl")
    labels = load_labels(labels_path, dep)
    rt = LocalRuntime(Path(a.model), {"n_ctx": 2048, "n_threads": 2}, name=Path(a.model).name)
    scorer = rt.scorer()
    agents = [{"name": x.name, "description": x.summary()} for x in dep.agents]
    t0 = time.perf_counter()
    pmis = scorer.scores_many([q for q, _ in labels], agents, agent_prefix)
    seconds = (time.perf_counter() - t0) / len(labels)
    rows = [
        {
            "label": lab,
            "pmi": p,
            "hits": {x.name: keyword_hits(q, x) for x in dep.agents},
            "default": dep.router.default,
        }
        for (q, lab), p in zip(labels, pmis, strict=True)
    ]
    order = list(range(len(rows)))
    random.Random(0).shuffle(order)
    folds = [[rows[i] for i in order[k :: a.folds]] for k in range(a.folds)]
    held: dict[str, list[float]] = {"pmi only": [], "keywords only": [], "pmi + w*keywords (w chosen per fold)": []}
    chosen = []
    for k in range(a.folds):
        train = [r for j, f in enumerate(folds) if j != k for r in f]
        w = max(GRID, key=lambda g: (accuracy(train, g), -g))
        chosen.append(w)
        held["pmi only"].append(accuracy(folds[k], 0.0))
        held["keywords only"].append(accuracy(folds[k], None))
        held["pmi + w*keywords (w chosen per fold)"].append(accuracy(folds[k], w))
    w_all = max(GRID, key=lambda g: (accuracy(rows, g), -g))
    doc = {
        "command": " ".join(["benchmarks/route_methods.py", *sys.argv[1:]]),
        "model": Path(a.model).name,
        "labels": str(labels_path.relative_to(ROOT)) if labels_path.is_relative_to(ROOT) else str(labels_path),
        "requests": len(rows),
        "folds": a.folds,
        "held_out_accuracy": {
            m: {"mean": round(statistics.fmean(v), 4), "min": round(min(v), 4), "max": round(max(v), 4)}
            for m, v in held.items()
        },
        "w_chosen_per_fold": chosen,
        "w_on_all": w_all,
        "pmi_seconds_per_request": round(seconds, 4),
    }
    for m, v in doc["held_out_accuracy"].items():
        print(f"{m:40s} mean {v['mean']:.1%}  min {v['min']:.1%}  max {v['max']:.1%}")
    print(f"w per fold {chosen}; on all requests {w_all}; pmi {seconds:.3f} s per request")
    Path(a.out).write_text(json.dumps(doc, indent=2) + "\n")
    rt.close()


if __name__ == "__main__":
    main()
