"""Throughput the way llama-bench measures it, through llama.cpp's low-level API.

pp<N>: N random tokens decoded in batches of n_batch (logits only for the last token), then
llama_synchronize. tg<N>: N single-token decodes, each synchronized. One warm-up run, then `reps`
timed runs with the KV cache cleared between them. Tokenization and sampling are excluded, and no
logits are copied into Python: per-token Python work is a few ctypes calls, so tg matches llama-bench
(a naive `Llama.eval()` loop copies 49k logits per token and loses 17%).
"""

from __future__ import annotations

import ctypes
import random
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeagent_cli.core.errors import EdgeError, ExitCode
from edgeagent_cli.core.util.llama_logs import quiet_logs


@dataclass
class Test:
    n_prompt: int
    n_gen: int
    n_threads: int

    @property
    def name(self) -> str:
        return f"pp{self.n_prompt}" if self.n_prompt else f"tg{self.n_gen}"


class LowLevelModel:
    """A model and context held open across tests, as llama-bench reuses them for one parameter set."""

    def __init__(
        self,
        path: Path,
        n_ctx: int,
        n_threads: int,
        n_batch: int = 2048,
        n_ubatch: int = 512,
        n_gpu_layers: int = 0,
        flash_attn: bool | None = None,
    ) -> None:
        import llama_cpp as L

        self.L = L
        self._log_sink = quiet_logs()
        L.llama_backend_init()
        mparams = L.llama_model_default_params()
        mparams.n_gpu_layers = n_gpu_layers
        t0 = time.perf_counter()
        self.model = L.llama_model_load_from_file(str(path).encode(), mparams)
        if not self.model:
            raise EdgeError(
                f"llama.cpp could not load {path}", "check the file with `edgeagent models verify`", ExitCode.INTEGRITY
            )
        cparams = L.llama_context_default_params()
        cparams.n_ctx = n_ctx
        cparams.n_batch = n_batch
        cparams.n_ubatch = n_ubatch
        cparams.n_threads = n_threads
        cparams.n_threads_batch = n_threads
        if hasattr(cparams, "flash_attn_type"):  # None: llama.cpp decides (AUTO), as llama-bench's default
            cparams.flash_attn_type = -1 if flash_attn is None else int(flash_attn)
        self.ctx = L.llama_init_from_model(self.model, cparams)
        if not self.ctx:
            L.llama_model_free(self.model)
            raise EdgeError(
                f"llama.cpp could not create a context of {n_ctx} tokens", "lower the context", ExitCode.DOES_NOT_FIT
            )
        self.load_seconds = time.perf_counter() - t0
        vocab = L.llama_model_get_vocab(self.model)
        self.n_vocab = L.llama_vocab_n_tokens(vocab)
        self.bos = L.llama_vocab_bos(vocab) if L.llama_vocab_get_add_bos(vocab) else None
        self.n_batch = n_batch
        self.rng = random.Random(42)

    def _tokens(self, n: int) -> Any:
        arr = (self.L.llama_token * n)(*(self.rng.randrange(self.n_vocab) for _ in range(n)))
        if self.bos is not None and n:
            arr[0] = self.bos
        return arr

    def clear(self) -> None:
        self.L.llama_memory_clear(self.L.llama_get_memory(self.ctx), False)

    def prompt(self, n: int) -> None:
        L = self.L
        tokens = self._tokens(n)
        for start in range(0, n, self.n_batch):
            count = min(self.n_batch, n - start)
            ptr = ctypes.cast(ctypes.byref(tokens, start * ctypes.sizeof(L.llama_token)), ctypes.POINTER(L.llama_token))
            if L.llama_decode(self.ctx, L.llama_batch_get_one(ptr, count)) != 0:
                raise EdgeError("llama_decode failed during the prompt test")
        L.llama_synchronize(self.ctx)

    def generate(self, n: int) -> None:
        L = self.L
        decode, sync, get_one, ctx = L.llama_decode, L.llama_synchronize, L.llama_batch_get_one, self.ctx
        token = (L.llama_token * 1)(self.bos if self.bos is not None else self.rng.randrange(self.n_vocab))
        randrange, n_vocab = self.rng.randrange, self.n_vocab
        for _ in range(n):
            if decode(ctx, get_one(token, 1)) != 0:
                raise EdgeError("llama_decode failed during the generation test")
            sync(ctx)
            token[0] = randrange(n_vocab)

    def close(self) -> None:
        self.L.llama_free(self.ctx)
        self.L.llama_model_free(self.model)


def _stats(n_tokens: int, samples_ns: list[int]) -> dict[str, Any]:
    ts = [n_tokens * 1e9 / ns for ns in samples_ns]
    sd = statistics.stdev if len(samples_ns) > 1 else (lambda _: 0.0)
    return {
        "avg_ns": int(statistics.fmean(samples_ns)),
        "stddev_ns": int(sd(samples_ns)),
        "samples_ns": samples_ns,
        "avg_ts": statistics.fmean(ts),
        "stddev_ts": sd(ts),
        "samples_ts": ts,
    }


def run_test(
    m: LowLevelModel, test: Test, reps: int, warmup: bool = True, on_sample: Callable[[str, int], None] | None = None
) -> dict[str, Any]:
    """One llama-bench test: a warm-up run (not counted), then `reps` timed runs."""
    if warmup:
        m.clear()
        if test.n_prompt:
            m.prompt(test.n_prompt)
        if test.n_gen:
            m.generate(1)
    samples: list[int] = []
    for _ in range(reps):
        m.clear()
        t0 = time.perf_counter_ns()
        if test.n_prompt:
            m.prompt(test.n_prompt)
        if test.n_gen:
            m.generate(test.n_gen)
        samples.append(time.perf_counter_ns() - t0)
        if on_sample:
            on_sample(test.name, samples[-1])
    n = test.n_prompt + test.n_gen
    return {
        "test": test.name,
        "n_prompt": test.n_prompt,
        "n_gen": test.n_gen,
        "n_threads": test.n_threads,
        **_stats(n, samples),
    }


def throughput(
    path: Path,
    threads: list[int],
    prompts: list[int],
    gens: list[int],
    reps: int,
    n_gpu_layers: int = 0,
    flash_attn: bool | None = None,
    n_batch: int = 2048,
    n_ubatch: int = 512,
    on_sample: Callable[[str, int], None] | None = None,
) -> tuple[list[dict[str, Any]], float]:
    """All pp/tg tests for one model, every thread count; returns results and the load time."""
    results: list[dict[str, Any]] = []
    load_seconds = 0.0
    n_ctx = max([p for p in prompts] + [g for g in gens] + [1])
    for t in threads:
        m = LowLevelModel(
            path,
            n_ctx=max(n_ctx, 256),
            n_threads=t,
            n_batch=n_batch,
            n_ubatch=n_ubatch,
            n_gpu_layers=n_gpu_layers,
            flash_attn=flash_attn,
        )
        load_seconds = load_seconds or m.load_seconds
        try:
            for p in prompts:
                if p:
                    results.append(run_test(m, Test(p, 0, t), reps, on_sample=on_sample))
            for g in gens:
                if g:
                    results.append(run_test(m, Test(0, g, t), reps, on_sample=on_sample))
        finally:
            m.close()
    for r in results:
        r.update(
            n_batch=n_batch,
            n_ubatch=n_ubatch,
            n_gpu_layers=n_gpu_layers,
            flash_attn=flash_attn,
            model_path=str(path),
            model_size=path.stat().st_size,
        )
    return results, load_seconds
