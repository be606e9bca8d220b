"""Will it fit? Memory a GGUF model needs at a context, and the variant a budget allows.

needed = weights + KV cache + compute buffers + runtime, each term explained where it is computed.
Calibrated on SmolLM2-135M Q4_1 (llama-cpp-python 0.3.36, CPU): estimate vs measured peak RSS after a
512-token prompt and 64 generated tokens: 230 vs 225 MiB at ctx 2048, 365 vs 361 MiB at ctx 8192.
"""

from __future__ import annotations

import re
from typing import Any

MIB = 1024 * 1024
UBATCH = 512  # llama.cpp's default n_ubatch: the largest batch a compute graph is built for

# Bytes per element of the KV cache by ggml type: quantized types are blocks of 32 values
# (q8_0: 32 int8 + f16 scale = 34 B; q4_0: 16 + 2 = 18 B; q4_1: 16 + 2 + 2 = 20 B; q5_0: 22 B; q5_1: 24 B).
KV_BYTES = {
    "f32": 4.0,
    "f16": 2.0,
    "bf16": 2.0,
    "q8_0": 34 / 32,
    "q4_0": 18 / 32,
    "q4_1": 20 / 32,
    "iq4_nl": 18 / 32,
    "q5_0": 22 / 32,
    "q5_1": 24 / 32,
}

# Quality, lowest first: bits per weight decide it, then the K-quant mixes within a bit width.
QUALITY = [
    "IQ1_S",
    "IQ1_M",
    "TQ1_0",
    "TQ2_0",
    "IQ2_XXS",
    "IQ2_XS",
    "IQ2_S",
    "IQ2_M",
    "Q2_K_S",
    "Q2_K",
    "IQ3_XXS",
    "IQ3_XS",
    "IQ3_S",
    "Q3_K_S",
    "IQ3_M",
    "Q3_K_M",
    "Q3_K_L",
    "IQ4_XS",
    "IQ4_NL",
    "Q4_0",
    "Q4_1",
    "Q4_K_S",
    "Q4_K_M",
    "Q5_0",
    "Q5_1",
    "Q5_K_S",
    "Q5_K_M",
    "Q6_K",
    "Q8_0",
    "F16",
    "BF16",
    "F32",
]

QUANT_RE = re.compile(
    r"(?i)(?:^|[-._])(?P<ud>UD-)?(?P<q>IQ[1-4]_(?:XXS|XS|S|M|NL)|TQ[12]_0|Q[2-8]_K(?:_[SML])?|Q[4-8]_[01]|BF16|FP16|F16|FP32|F32)"
    r"(?P<suffix>_XL|_L)?(?=[-._])"
)
SPLIT_RE = re.compile(r"(?i)-(\d{5})-of-(\d{5})\.gguf$")
NOT_MODELS = ("mmproj", "imatrix")


def quant_label(filename: str) -> str | None:
    """The quant in any uploader's naming: `Phi-4-mini-instruct.Q8_0.gguf`, `qwen2.5-0.5b-instruct-q4_k_m.gguf`,
    `gemma-3-270m-it-UD-IQ2_M.gguf`, `Llama-3.2-1B-Instruct-f16.gguf`."""
    name = filename.rsplit("/", 1)[-1]
    matches = list(QUANT_RE.finditer(name))
    if not matches:
        return None
    m = matches[-1]
    q = m.group("q").upper().replace("FP16", "F16").replace("FP32", "F32")
    return f"{'UD-' if m.group('ud') else ''}{q}{(m.group('suffix') or '').upper()}"


def base_quant(label: str) -> str:
    return re.sub(r"^UD-|_XL$|(?<=_K_[SML])_L$|(?<=_K)_L$", "", label)


def quality(label: str) -> float:
    """Rank for choosing: unknown labels rank lowest; `_L`/`_XL`/`UD-` variants just above their base."""
    base = base_quant(label)
    rank = QUALITY.index(base) if base in QUALITY else -1
    return rank + (0.5 if base != label else 0)


def group_variants(files: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Repo files -> model variants. Split files (`-00001-of-00003.gguf`) become one variant;
    projectors, importance matrices and non-GGUF files are not variants."""
    groups: dict[str, dict[str, Any]] = {}
    for f in files:
        name = f["file"]
        base = name.rsplit("/", 1)[-1].lower()
        if not base.endswith(".gguf") or any(word in base for word in NOT_MODELS):
            continue
        label = quant_label(name)
        if label is None:
            continue
        split = SPLIT_RE.search(name)
        key = SPLIT_RE.sub("", name) if split else name
        g = groups.setdefault(key, {"quant": label, "file": name, "files": [], "size_bytes": 0})
        g["files"].append(f)
        g["size_bytes"] += int(f.get("size_bytes") or 0)
        if split and split.group(1) == "00001":
            g["file"] = name
        if split:
            g["parts_expected"] = int(split.group(2))
    variants = []
    for g in groups.values():
        g["files"].sort(key=lambda f: f["file"])
        if g.get("parts_expected", 1) != len(g["files"]):
            g["incomplete_split"] = True
        variants.append(g)
    return sorted(variants, key=lambda v: (quality(v["quant"]), v["file"]))


def kv_bytes(arch: dict[str, Any], ctx: int, cache_type: str = "f16") -> int:
    """K and V for every layer: 2 x layers x KV heads x head dim x cells x bytes per element.
    Sliding-window layers keep only window + one ubatch of cells (llama.cpp's iSWA cache), padded to 256."""
    layers = int(arch["n_layers"])
    per_cell = 2 * int(arch["n_kv_heads"]) * int(arch["head_dim"]) * KV_BYTES[cache_type]
    swa_layers = int(arch.get("swa_layers") or 0) if arch.get("sliding_window") else 0
    swa_cells = min(ctx, -(-(int(arch.get("sliding_window") or 0) + UBATCH) // 256) * 256)
    return int(per_cell * ((layers - swa_layers) * ctx + swa_layers * swa_cells))


def compute_bytes(arch: dict[str, Any], ctx: int, offload: bool = False) -> int:
    """Activations of one ubatch (f32).

    On a GPU, llama.cpp reserves the worst case up front and all of it is real VRAM: the larger of the
    logits of a full ubatch (vocab x ubatch) and the attention scores (heads x ctx x ubatch), 10% more for
    the rest of the graph. On a CPU the buffer is reserved the same way but pages are touched only as
    used; a prompt of one ubatch touches the scores over ubatch cells (x2: scores and softmax) plus
    about 24 embedding-wide rows per token (residual, norms, Q/K/V, FFN gate/up/down).
    """
    heads = int(arch.get("n_heads") or 1)
    embd = int(arch.get("hidden_size") or arch.get("embedding_length") or int(arch["head_dim"]) * heads)
    if offload:
        vocab = int(arch.get("vocab_size") or 32000)
        return int(max(vocab * UBATCH * 4, heads * ctx * UBATCH * 4) * 1.1)
    return 4 * UBATCH * (2 * heads * min(ctx, UBATCH) + 24 * embd)


def runtime_bytes(arch: dict[str, Any]) -> int:
    """The process itself: CPython, numpy and the llama.cpp library (measured 43-44 MiB RSS after
    `import llama_cpp` on x86_64 Linux; 40 MiB + the tokenizer below), plus the vocabulary held by
    llama.cpp's tokenizer (token text, scores, lookup maps: about 128 B per token)."""
    return 40 * MIB + int(arch.get("vocab_size") or 32000) * 128


def estimate(
    size_bytes: int, arch: dict[str, Any], ctx: int, cache_type: str = "f16", offload: bool = False
) -> dict[str, int]:
    """Weights are the file's real size: llama.cpp maps the file and touches every tensor."""
    kv = kv_bytes(arch, ctx, cache_type)
    compute = compute_bytes(arch, ctx, offload)
    runtime = 0 if offload else runtime_bytes(arch)
    return {
        "weights_bytes": size_bytes,
        "kv_bytes": kv,
        "compute_bytes": compute,
        "runtime_bytes": runtime,
        "total_bytes": size_bytes + kv + compute + runtime,
    }


TIGHT = 0.85  # above 85% of the budget: it loads, but a long prompt or a busy desktop may push it over


def verdict(total: int, budget: int) -> str:
    if total <= budget * TIGHT:
        return "fits"
    return "tight" if total <= budget else "does not fit"


def max_context(
    size_bytes: int, arch: dict[str, Any], budget: int, cache_type: str = "f16", offload: bool = False
) -> int:
    """The largest context (a multiple of 256, at most the model's trained length) that fits the budget."""
    limit = int(arch.get("context_length") or 131072)
    lo, hi = 0, limit // 256
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if estimate(size_bytes, arch, mid * 256, cache_type, offload)["total_bytes"] <= budget:
            lo = mid
        else:
            hi = mid - 1
    return lo * 256


def choose(
    variants: list[dict[str, Any]],
    arch: dict[str, Any],
    ctx: int,
    budget: int,
    cache_type: str = "f16",
    offload: bool = False,
    quant_range: tuple[str | None, str | None] = (None, None),
    forced: str | None = None,
) -> tuple[list[dict[str, Any]], dict[str, Any] | None, str]:
    """Every variant with its needs and verdict; the chosen one and why."""
    table = []
    for v in variants:
        est = estimate(int(v["size_bytes"]), arch, ctx, cache_type, offload)
        table.append(
            {
                **{k: v[k] for k in ("quant", "file", "size_bytes")},
                **est,
                "verdict": verdict(est["total_bytes"], budget),
            }
        )
    if forced:
        picked = [r for r in table if r["quant"].upper() == forced.upper()]
        if not picked:
            return table, None, f"{forced} is not in this repo"
        row = picked[-1]
        if row["verdict"] == "does not fit":
            return (
                table,
                row,
                f"{forced} was forced; it does NOT fit the budget ({row['total_bytes']:,} > {budget:,} bytes)",
            )
        return table, row, f"{forced} was forced ({row['verdict']})"
    lo = quality(quant_range[0]) if quant_range[0] else -10
    hi = quality(quant_range[1]) if quant_range[1] else 99
    in_range = [
        r for r in table if lo <= quality(r["quant"]) <= hi and not quality(r["quant"]) - int(quality(r["quant"]))
    ]
    for pool, where in ((in_range, "in the profile's range"), (table, "outside the profile's range")):
        ok = [r for r in pool if r["verdict"] != "does not fit"]
        if ok:
            row = max(ok, key=lambda r: quality(r["quant"]))
            note = " (tight: under 15% to spare)" if row["verdict"] == "tight" else ""
            return (
                table,
                row,
                (
                    f"{row['quant']} is the highest-quality variant {where} that fits "
                    f"{budget / MIB:,.0f} MiB at context {ctx}{note}"
                ),
            )
    return table, None, f"no variant fits {budget / MIB:,.0f} MiB at context {ctx}"
