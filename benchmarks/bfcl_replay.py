"""BFCL in-process with the model's work remembered: for trying changes to planning and parsing quickly.

    .venv/bin/python benchmarks/bfcl_replay.py MODEL.gguf [BFCL_DIR] [--out RUN.json] [--against EARLIER.json]

Runs every shared category as `eval tools` does (same runtime, same checker), but keeps the model's
answers to three questions in a file beside the model's cache: the router's log P(target | prefix),
the constrained decoder's completion of a prompt under a grammar, and a free answer (the text of a
turn with no call). All are pure functions of their inputs for one model file, so a second run with
changed splitting or grounding rules costs only the decodes those rules change (minutes instead of
half an hour). Seconds per entry are therefore not meaningful here: take timings from `eval tools`
(benchmarks/bfcl_all.sh).

Prints accuracy per category with the 5-fold spread (benchmarks/bfcl_calibrate.fold_spread), and with
--against the entries that changed from right to wrong and back.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import pickle
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))


def memo_path(model: Path) -> Path:
    # fa-auto: answers since flash attention is left to llama.cpp (on, on the CPU); the numbers move a little
    digest = hashlib.sha256(f"{model.resolve()}:{model.stat().st_size}:fa-auto".encode()).hexdigest()[:16]
    return Path.home() / ".cache/edgeagent/bfcl-memo" / f"{digest}.pkl"


def install_memo(store: dict) -> None:
    from edgeagent_cli.core.agent.runtime import constrained, local, router

    logprob_many, generate = router.Router._logprob_many, constrained.ConstrainedDecoder.generate

    def remembered_logprob_many(self, prefix, targets):  # type: ignore[no-untyped-def]
        keys = [("lp", tuple(prefix), tuple(t)) for t in targets]
        new = [t for t, key in zip(targets, keys, strict=True) if key not in store]
        store.update(
            {("lp", tuple(prefix), tuple(t)): lp for t, lp in zip(new, logprob_many(self, prefix, new), strict=True)}
        )
        return [store[key] for key in keys]

    def remembered_generate(self, prompt, grammar, max_tokens, until=None, closing=""):  # type: ignore[no-untyped-def]
        if until is not None:
            return generate(self, prompt, grammar, max_tokens, until, closing)
        key = ("gen", prompt, grammar, max_tokens) + ((closing,) if closing else ())
        if key not in store:
            store[key] = (*generate(self, prompt, grammar, max_tokens, closing=closing), self.logprob)
        text, finish, count, *logprob = store[key]
        self.logprob = logprob[0] if logprob else float("nan")  # answers kept before it was
        return text, finish, count

    def remembered_text(self, prompt, stops, grammar=None, on_text=None, watch_call=False, penalty=False, until=None):  # type: ignore[no-untyped-def]
        if grammar is not None or on_text is not None or until is not None:
            return free(self, prompt, stops, grammar, on_text, watch_call, penalty, until)
        key = ("text", prompt, tuple(stops), watch_call, penalty, self.max_tokens)
        if key not in store:
            store[key] = free(self, prompt, stops, grammar, on_text, watch_call, penalty, until)
        return store[key]

    free = local.LocalRuntime._generate
    router.Router._logprob_many = remembered_logprob_many  # type: ignore[method-assign]
    constrained.ConstrainedDecoder.generate = remembered_generate  # type: ignore[method-assign]
    local.LocalRuntime._generate = remembered_text  # type: ignore[method-assign]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("model", type=Path)
    ap.add_argument("bfcl_dir", type=Path, nargs="?", default=ROOT / "tests/data/bfcl")
    ap.add_argument("--out", type=Path, default=Path("/tmp/bfcl_replay.json"))
    ap.add_argument("--against", type=Path)
    ap.add_argument("--category", action="append")
    args = ap.parse_args()

    from bfcl_calibrate import fold_spread

    from edgeagent_cli.core.agent import eval as bfcl
    from edgeagent_cli.core.agent.runtime.local import LocalRuntime

    path = memo_path(args.model)
    store = pickle.loads(path.read_bytes()) if path.is_file() else {}
    size = len(store)
    install_memo(store)
    entries, truth = bfcl.load(args.bfcl_dir, None, None, args.category)
    runtime = LocalRuntime(
        args.model, {"n_ctx": 4096, "n_threads": 2, "n_batch": 512}, max_tokens=256, name=args.model.name
    )
    t0 = time.perf_counter()
    try:
        result = bfcl.evaluate(runtime, entries, truth, "auto", {})
    finally:
        if len(store) > size:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_bytes(pickle.dumps(store))
            tmp.replace(path)
    args.out.write_text(json.dumps(result.fields(), indent=1))
    print(f"{len(entries)} entries in {time.perf_counter() - t0:.0f} s ({len(store) - size} new model answers)")
    fold_spread(args.out, 5)
    if args.against:
        before = {r["id"]: r for r in json.loads(args.against.read_text())["results"]}
        for row in result.rows:
            old = before.get(row["id"])
            if old is not None and old["correct"] != row["correct"]:
                sign = "+" if row["correct"] else "-"
                print(f"{sign} {row['id']}: {row['error'] or 'right'} (was: {old['error'] or 'right'})")


if __name__ == "__main__":
    main()
