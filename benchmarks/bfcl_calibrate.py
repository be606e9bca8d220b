"""Fit the router's call decision on the public BFCL slices, and say how well it holds by cross-validation.

    .venv/bin/python benchmarks/bfcl_calibrate.py MODEL.gguf [BFCL_DIR] [--folds 5]

1. For every entry of simple_python, multiple and irrelevance, the router's features for every tool
   (router.features: pmi from the model, word overlaps, number coverage); cached in
   benchmarks/results/bfcl_features.json (delete it after changing the router's prompt).
2. K folds (entries shuffled with a fixed seed, each category split evenly). On the training folds:
   a logistic model (L2) over the features, and the call threshold that maximises the mean of the
   three decisions: simple (call its tool), multiple (call the right one), irrelevance (call none).
   On the held-out fold: those three decision accuracies.
3. Prints mean, min and max over the folds for each feature set (pmi alone, the old router, against
   all features), then the weights and threshold fitted on everything, to paste into router.py.
   Writes benchmarks/results/bfcl_calibrate.json.

With `--run EVAL.json` (an `eval tools --json` document) it also prints each category's accuracy on
each of the same folds (parallel categories split the same way), the spread of the end-to-end figures.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from edgeagent_cli.core.agent import eval as bfcl  # noqa: E402
from edgeagent_cli.core.agent.runtime.router import FEATURES, Router, features  # noqa: E402

CATEGORIES = ("simple_python", "multiple", "irrelevance")
FEATURE_SETS = {"pmi only (the old router)": ("pmi",), "all features": FEATURES}
CACHE = ROOT / "benchmarks/results/bfcl_features.json"


def extract(model: Path, bfcl_dir: Path) -> list[dict]:
    """One row per (entry, tool): the features and whether the tool is in the ground truth."""
    if CACHE.is_file():
        return json.loads(CACHE.read_text())
    import llama_cpp

    llm = llama_cpp.Llama(str(model), n_ctx=4096, n_threads=2, verbose=False)
    router = Router(llm)
    rows = []
    t0 = time.perf_counter()
    for cat in CATEGORIES:
        entries = bfcl.load_jsonl(bfcl_dir / f"BFCL_v4_{cat}.json")
        answers = bfcl_dir / f"possible_answer/BFCL_v4_{cat}.json"
        truth = {a["id"]: a["ground_truth"] for a in bfcl.load_jsonl(answers)} if answers.is_file() else {}
        for entry in entries:
            tools, _ = bfcl.tools_for(entry)
            request = bfcl.question_messages(entry)[-1]["content"]
            wanted = {bfcl.wire_name(next(iter(t))) for t in truth.get(entry["id"], [])}
            pmi = router.scores(request, tools)
            for tool in tools:
                name = tool["function"]["name"]
                feats = features(request, tool, pmi[name])
                rows.append({"id": entry["id"], "category": cat, "tool": name, "y": name in wanted, **feats})
        print(f"{cat}: features done at {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    CACHE.write_text(json.dumps(rows))
    return rows


def fit(rows: list[dict], names: tuple[str, ...], l2: float = 0.1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x = np.array([[r[k] for k in names] for r in rows], dtype=float)
    y = np.array([float(r["y"]) for r in rows])
    mean, scale = x.mean(0), x.std(0) + 1e-9
    x = np.c_[np.ones(len(x)), (x - mean) / scale]
    w = np.zeros(x.shape[1])
    for _ in range(3000):
        p = 1 / (1 + np.exp(-x @ w))
        w -= (x.T @ (p - y) + l2 * np.r_[0, w[1:]]) / len(y)
    return w, mean, scale


def decisions(model: tuple, names: tuple[str, ...], rows: list[dict], threshold: float) -> dict[str, float]:
    w, mean, scale = model
    by: dict[str, list[tuple[float, dict]]] = {}
    for r in rows:
        x = np.r_[1.0, (np.array([r[k] for k in names]) - mean) / scale]
        by.setdefault(r["id"], []).append((float(1 / (1 + np.exp(-x @ w))), r))
    right: dict[str, list[bool]] = {c: [] for c in CATEGORIES}
    for scored in by.values():
        p, best = max(scored, key=lambda t: t[0])
        ok = p < threshold if best["category"] == "irrelevance" else p >= threshold and best["y"]
        right[best["category"]].append(ok)
    return {c: float(np.mean(v)) for c, v in right.items() if v}


def best_threshold(model: tuple, names: tuple[str, ...], rows: list[dict]) -> float:
    grid = [round(t, 2) for t in np.arange(0.05, 0.81, 0.05)]
    return max(grid, key=lambda t: np.mean(list(decisions(model, names, rows, t).values())))


def fold_spread(run: Path, k: int) -> dict:
    """Accuracy per category on each of k folds of an eval run (entries shuffled as in calibration)."""
    rows = json.loads(run.read_text())["results"]
    out = {}
    for cat in sorted({r["category"] for r in rows}):
        ids = sorted(r["id"] for r in rows if r["category"] == cat)
        random.Random(0).shuffle(ids)
        fold_of = {entry_id: i % k for i, entry_id in enumerate(ids)}
        right = {r["id"]: r["correct"] for r in rows if r["category"] == cat}
        per = [float(np.mean([right[i] for i in ids if fold_of[i] == f])) for f in range(k)]
        out[cat] = {"accuracy": round(float(np.mean(list(right.values()))), 3), "folds": [round(x, 3) for x in per]}
        print(f"{cat}: {out[cat]['accuracy']:.3f}, folds {min(per):.3f}-{max(per):.3f} {out[cat]['folds']}")
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("model", type=Path)
    ap.add_argument("bfcl_dir", type=Path, nargs="?", default=ROOT / "tests/data/bfcl")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--run", type=Path, help="an `eval tools --json` document: its accuracy per fold")
    args = ap.parse_args()
    rows = extract(args.model, args.bfcl_dir)
    ids = {c: sorted({r["id"] for r in rows if r["category"] == c}) for c in CATEGORIES}
    folds: list[set[str]] = [set() for _ in range(args.folds)]
    for cat_ids in ids.values():
        random.Random(0).shuffle(cat_ids)
        for i, entry_id in enumerate(cat_ids):
            folds[i % args.folds].add(entry_id)
    report: dict = {"folds": args.folds, "entries": {c: len(v) for c, v in ids.items()}, "feature_sets": {}}
    for label, names in FEATURE_SETS.items():
        per_fold = []
        for k in range(args.folds):
            train = [r for r in rows if r["id"] not in folds[k]]
            test = [r for r in rows if r["id"] in folds[k]]
            model = fit(train, names)
            threshold = best_threshold(model, names, train)
            per_fold.append({**decisions(model, names, test, threshold), "threshold": threshold})
        summary = {
            c: {
                "mean": round(float(np.mean([f[c] for f in per_fold])), 3),
                "min": round(min(f[c] for f in per_fold), 3),
                "max": round(max(f[c] for f in per_fold), 3),
            }
            for c in CATEGORIES
        }
        report["feature_sets"][label] = {"features": list(names), "held_out_folds": summary, "per_fold": per_fold}
        print(
            f"{label}: " + ", ".join(f"{c} {v['mean']:.3f} [{v['min']:.3f}-{v['max']:.3f}]" for c, v in summary.items())
        )
    w, mean, scale = fit(rows, FEATURES)
    threshold = best_threshold((w, mean, scale), FEATURES, rows)
    report["fitted"] = {
        "weights": {
            "bias": round(float(w[0]), 3),
            **{k: round(float(v), 3) for k, v in zip(FEATURES, w[1:], strict=True)},
        },
        "mean": {k: round(float(v), 3) for k, v in zip(FEATURES, mean, strict=True)},
        "scale": {k: round(float(v), 3) for k, v in zip(FEATURES, scale, strict=True)},
        "threshold": threshold,
    }
    print(json.dumps(report["fitted"], indent=1))
    if args.run:
        report["run"] = fold_spread(args.run, args.folds)
    (ROOT / "benchmarks/results/bfcl_calibrate.json").write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
