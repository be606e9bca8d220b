"""Fit the router's call decision on the public BFCL slices, and say how well it holds by cross-validation.

    .venv/bin/python benchmarks/bfcl_calibrate.py MODEL.gguf [BFCL_DIR] [--folds 5]

1. For every entry of simple_python, multiple and irrelevance, the router's features for every tool
   (router.features: pmi from the model, word overlaps, number coverage); cached in
   benchmarks/results/bfcl_features.json. Only pmi is taken from the cache (delete it after changing
   the router's prompt); the word features are computed again each run.
2. K folds (entries shuffled with a fixed seed, each category split evenly). On the training folds:
   a logistic model (L2) over the features, and the call threshold that maximises the mean of the
   three decisions: simple (call its tool), multiple (call the right one), irrelevance (call none).
   On the held-out fold: those three decision accuracies.
3. Prints mean, min and max over the folds for each feature set (pmi alone, the old router, against
   all features), then the weights and threshold fitted on everything, to paste into router.py.
4. The words alone (router.WORDS: no model pass) decide a request when they are sure: a call when
   one tool's probability is at least `call` and every other's below `others`, no call when every
   tool's is at most `none` (router.by_words). On each training fold, the thresholds of a small grid
   that leave the most requests to the words without a decision worse than the full router's;
   on the held-out fold, both routers' decisions and the share the words decided. When the words
   are not sure, the model scores only the tools whose word probability is near the best one's
   (router.near_best; the largest share of a grid with no decision worse on the training folds).
   Then the word weights and thresholds fitted on everything.
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
from edgeagent_cli.core.agent.runtime.router import FEATURES, WORDS, Router, features, has_words  # noqa: E402

CATEGORIES = ("simple_python", "multiple", "irrelevance")
FEATURE_SETS = {"pmi only (the old router)": ("pmi",), "all features": FEATURES, "the words alone": WORDS}
NEAR_GRID = (0.1, 0.2, 0.3, 0.4, 0.5)
SURE_GRID = [(c, o, n) for c in (0.8, 0.85, 0.9, 0.95) for o in (0.1, 0.2) for n in (0.02, 0.05, 0.1)]
CACHE = ROOT / "benchmarks/results/bfcl_features.json"


def extract(model: Path, bfcl_dir: Path) -> list[dict]:
    """One row per (entry, tool): the features and whether the tool is in the ground truth. Only pmi
    needs the model: with the cache, the word features are computed again (a change to them needs no
    model pass)."""
    cached = {(r["id"], r["tool"]): r["pmi"] for r in json.loads(CACHE.read_text())} if CACHE.is_file() else None
    router = None
    if cached is None:
        import llama_cpp

        router = Router(llama_cpp.Llama(str(model), n_ctx=4096, n_threads=2, verbose=False))
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
            said = has_words(request)
            if router is not None:
                pmi = router.scores(request, tools)
            else:
                pmi = {t["function"]["name"]: cached[(entry["id"], t["function"]["name"])] for t in tools}  # type: ignore[index]
            for tool in tools:
                name = tool["function"]["name"]
                feats = features(request, tool, pmi[name])
                rows.append(
                    {"id": entry["id"], "category": cat, "tool": name, "y": name in wanted, "said": said, **feats}
                )
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


def _probs(model: tuple, names: tuple[str, ...], rows: list[dict]) -> np.ndarray:
    w, mean, scale = model
    x = np.c_[np.ones(len(rows)), (np.array([[r[k] for k in names] for r in rows], dtype=float) - mean) / scale]
    return np.asarray(1 / (1 + np.exp(-x @ w)))


def cascade(
    full: tuple, threshold: float, words: tuple, sure: tuple, rows: list[dict], near: float = 0.0
) -> dict[str, list[float]]:
    """Per category: [right with the full router, right with the words first, decided by the words,
    entries, tools the model scored, tools]. Not decided by the words, the model scores only the tools
    whose word probability is at least `near` times the best one's."""
    p_full, p_words = _probs(full, FEATURES, rows), _probs(words, WORDS, rows)
    by: dict[str, list[int]] = {}
    for i, r in enumerate(rows):
        by.setdefault(r["id"], []).append(i)
    out: dict[str, list[float]] = {c: [0, 0, 0, 0, 0, 0] for c in CATEGORIES}
    call, others, none = sure
    for idx in by.values():
        cat = rows[idx[0]]["category"]

        def right(i: int | None) -> bool:
            return i is None if cat == "irrelevance" else i is not None and bool(rows[i]["y"])  # noqa: B023

        best = max(idx, key=lambda i: p_full[i])
        full_call = best if p_full[best] >= threshold else None
        top = max(idx, key=lambda i: p_words[i])
        rest = [p_words[i] for i in idx if i != top]
        scored = 0
        said = rows[top]["said"]
        if said and p_words[top] >= call and all(p < others for p in rest):
            mine, decided = top, 1
        elif said and p_words[top] <= none:
            mine, decided = None, 1
        else:
            kept = [i for i in idx if p_words[i] >= near * p_words[top]]
            chosen = max(kept, key=lambda i: p_full[i])
            mine, decided, scored = (chosen if p_full[chosen] >= threshold else None), 0, len(kept)
        got = (right(full_call), right(mine), decided, 1, scored, len(idx) if not decided else 0)
        out[cat] = [a + b for a, b in zip(out[cat], got, strict=True)]
    return out


def best_sure(full: tuple, threshold: float, words: tuple, rows: list[dict]) -> tuple:
    """The grid's thresholds that leave the most to the words with no category worse than the full router."""
    ok = []
    for sure in SURE_GRID:
        got = cascade(full, threshold, words, sure, rows)
        if all(v[1] >= v[0] for v in got.values()):
            ok.append((sum(v[2] for v in got.values()), sure))
    return max(ok)[1] if ok else (1.0, 0.0, 0.0)


def best_near(full: tuple, threshold: float, words: tuple, sure: tuple, rows: list[dict]) -> float:
    """The largest share of the best word probability below which a tool goes unscored, with no
    category worse than the full router."""
    ok = [0.0]
    for near in NEAR_GRID:
        if all(v[1] >= v[0] for v in cascade(full, threshold, words, sure, rows, near).values()):
            ok.append(near)
    return max(ok)


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
    per_fold = []
    for k in range(args.folds):
        train = [r for r in rows if r["id"] not in folds[k]]
        test = [r for r in rows if r["id"] in folds[k]]
        full, words = fit(train, FEATURES), fit(train, WORDS)
        threshold = best_threshold(full, FEATURES, train)
        sure = best_sure(full, threshold, words, train)
        near = best_near(full, threshold, words, sure, train)
        per_fold.append({"sure": sure, "near": near, **cascade(full, threshold, words, sure, test, near)})
    totals = {c: [sum(f[c][j] for f in per_fold) for j in range(6)] for c in CATEGORIES}
    report["words_first"] = {
        "per_fold": per_fold,
        "held_out": {
            c: {
                "full_router": v[0] / v[3],
                "words_first": v[1] / v[3],
                "decided_by_words": v[2] / v[3],
                "tools_scored_when_not": v[4] / max(1, v[5]),
            }
            for c, v in totals.items()
        },
    }
    print(
        "words first, held-out folds: "
        + ", ".join(
            f"{c} {v[0]}->{v[1]} right, {v[2]}/{v[3]} by the words, {v[4]}/{v[5]} tools scored"
            for c, v in totals.items()
        )
    )
    w, mean, scale = fit(rows, FEATURES)
    threshold = best_threshold((w, mean, scale), FEATURES, rows)
    words = fit(rows, WORDS)
    sure = best_sure((w, mean, scale), threshold, words, rows)
    near = best_near((w, mean, scale), threshold, words, sure, rows)
    report["fitted"] = {
        "weights": {
            "bias": round(float(w[0]), 3),
            **{k: round(float(v), 3) for k, v in zip(FEATURES, w[1:], strict=True)},
        },
        "mean": {k: round(float(v), 3) for k, v in zip(FEATURES, mean, strict=True)},
        "scale": {k: round(float(v), 3) for k, v in zip(FEATURES, scale, strict=True)},
        "threshold": threshold,
        "word_weights": {
            "bias": round(float(words[0][0]), 3),
            **{k: round(float(v), 3) for k, v in zip(WORDS, words[0][1:], strict=True)},
        },
        "sure": dict(zip(("call", "others", "none"), sure, strict=True)),
        "near_best": near,
    }
    print(json.dumps(report["fitted"], indent=1))
    if args.run:
        report["run"] = fold_spread(args.run, args.folds)
    (ROOT / "benchmarks/results/bfcl_calibrate.json").write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
