"""Choosing the tool for a request on a small model: evidence from the model and from the words.

Asked "which tool?", SmolLM2-135M answers with the first name in the list almost whatever the
request (measured: 7 of 9 requests got `calculator`). It is much better at the reverse question:
how likely is this request, written after a tool's description? That is the first feature,

    pmi = log P(request | "Tool NAME: DESCRIPTION ... request:") - log P(request | "A user request:")

(pointwise mutual information between request and tool). On its own, with a fixed threshold, it
called a tool for half of BFCL's irrelevant questions (topically close, but not answerable by the
tool). The decision is a logistic model over pmi and six cheap features: pmi per word, the share of
the tool's name, description and parameter words the request uses, whether the request has a
number for each required numeric parameter (toolcall.ground.covered), and the share of the words of
what the request asks for ("What is the freezing point of ...") that the tool's name and description
use (a boiling-point tool is topically close, and not what was asked: on the held-out folds,
irrelevance 100 -> 104 of 120 decisions right, simple 195 -> 196, multiple 92). Its weights are fitted on the
public BFCL slices and chosen by cross-validation (`benchmarks/bfcl_calibrate.py`, which prints
the spread over folds); a tool is called when its probability clears CALL_PROBABILITY.

The model's passes cost most of a simple request's routing time (about 1 s of 2.7 on two slow
cores), and the evidence they add is for choosing among tools: by cross-validation, the word
features alone decide call or no call as well as all six (simple 97.5%, irrelevance 82.5% against
80.8%) but choose the right one of several tools less often (87% against 92%). So the words decide
first, with a logistic model of their own, when they are sure (`by_words`): one tool likely and
every other unlikely, or every tool unlikely. The model scores the rest. On the held-out folds the
words decided 82% of simple requests, 25% of multiple and 63% of irrelevant ones, and the decisions
were as often right as the full router's (387 of 420 against 386). When they are not sure, the model
scores only the tools the words make nearly as likely as the best (`probabilities_near`): 35% fewer
tools scored in multiple on the held-out folds, no decision changed.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

from edgeagent_cli.core.agent.toolcall.ground import covered
from edgeagent_cli.core.agent.toolcall.prompt import tool_line
from edgeagent_cli.core.errors import EdgeError, ExitCode

MAX_REQUEST_TOKENS = 192
MAX_DESCRIPTION_TOKENS = 160
BASELINE_PREFIX = "A user request:"
ASKED_UNKNOWN = 0.5  # no evidence either way
CALL_PROBABILITY = 0.25  # chosen with the weights: the best mean of the three decisions
FEATURES = (
    "pmi",
    "pmi_per_word",
    "name_overlap",
    "description_overlap",
    "parameter_overlap",
    "coverage",
    "asked_overlap",
)
WORDS = FEATURES[2:]  # the features that need no model pass
# Fitted by benchmarks/bfcl_calibrate.py (standardised features: (x - mean) / scale, then the weights).
WEIGHTS = {"bias": 0.294, "pmi": 0.63, "pmi_per_word": 0.464, "name_overlap": 1.405, "description_overlap": 0.482, "parameter_overlap": 0.285, "coverage": 0.758, "asked_overlap": 0.644}  # fmt: skip
MEAN = {"pmi": 13.67, "pmi_per_word": 0.912, "name_overlap": 0.439, "description_overlap": 0.245, "parameter_overlap": 0.266, "coverage": 0.898, "asked_overlap": 0.541}  # fmt: skip
SCALE = {"pmi": 10.837, "pmi_per_word": 0.699, "name_overlap": 0.399, "description_overlap": 0.244, "parameter_overlap": 0.311, "coverage": 0.289, "asked_overlap": 0.384}  # fmt: skip
# The words alone, fitted the same way (same mean and scale), and when they are sure: a call when one
# tool's probability reaches SURE_CALL and every other's is below SURE_OTHERS, none when no tool's
# exceeds SURE_NONE. Thresholds chosen with the weights (the most requests left to the words with no
# decision worse on the training folds; SURE_OTHERS kept at or below CALL_PROBABILITY).
WORD_WEIGHTS = {"bias": 0.309, "name_overlap": 1.66, "description_overlap": 0.755, "parameter_overlap": 0.38, "coverage": 0.789, "asked_overlap": 0.661}  # fmt: skip
SURE_CALL, SURE_OTHERS, SURE_NONE = 0.8, 0.2, 0.1
# When the words are not sure, the model scores only the tools whose word probability is at least this
# share of the best one's (chosen with the weights, from a grid that stops at one half).
NEAR_BEST = 0.5
_STOP = set(
    "a an the of to in on for with and or by from at is are be as that this it its into given which what how find "
    "calculate get".split()
)


def tool_prefix(tool: dict[str, Any]) -> str:
    return f"{tool_line(tool)}\nA user request that needs this tool:"


def word_stems(text: str) -> set[str]:
    """Content words, cut to five letters (calculate/calculation, units/unit), camelCase and snake_case split."""
    text = re.sub(r"([a-z])([A-Z])", r"\1 \2", text).replace("_", " ").replace(".", " ")
    return {w[:5] for w in re.findall(r"[a-z]+", text.lower()) if w not in _STOP and len(w) > 2}


def features(request: str, tool: dict[str, Any], pmi: float) -> dict[str, float]:
    """The decision's inputs for one tool (see module doc)."""
    return {"pmi": pmi, "pmi_per_word": pmi / max(1, len(request.split())), **word_features(request, tool)}


def word_features(request: str, tool: dict[str, Any]) -> dict[str, float]:
    """The inputs that need no model: the words the request shares with the tool, its numbers."""
    fn = tool.get("function", tool)
    params = fn.get("parameters") or {}
    said = word_stems(request)
    name, description = word_stems(fn.get("name") or ""), word_stems(fn.get("description") or "")
    param_words = {w for k in params.get("properties") or {} for w in word_stems(k)}
    return {
        "name_overlap": len(said & name) / max(1, len(name)),
        "description_overlap": len(said & description) / max(1, len(said | description)),
        "parameter_overlap": len(said & param_words) / max(1, len(param_words)),
        "coverage": covered(params, request),
        "asked_overlap": asked_overlap(request, name | description),
    }


# What a request asks for: the words after its opening question or command, up to a preposition or a
# clause ("What is the *freezing point* of water at ...", "Compute the *derivative* of ...").
_ASKED = re.compile(
    r"^(?:(?:can|could) you |please |i (?:want|need|would like) to (?:know )?)?"
    r"(?:what(?:'s| is| are| was| were| will be)?|how (?:much|many|long|far)|calculate|compute|find(?: out)?|"
    r"determine|get|identify|estimate|give me|tell me|show me)\s+(?:me\s+)?(?:how (?:much|many)\s+)?"
    r"(?:the\s+|a\s+|an\s+)?"
    r"(.*?)(?=\s+(?:of|for|in|at|from|with|if|when|given|that|to|on|by|after|between|using|and|is|are|was|"
    r"were|will|does|do|did|would)\b|[?.,]|$)",
    re.I,
)


def asked_overlap(request: str, tool_words: set[str]) -> float:
    """The share of the words the request asks for that the tool's name and description use; ASKED_UNKNOWN
    when the request opens in no form that names what it asks for, or names a thing it asks about
    ("What was *the Treaty of Paris* about?": a capitalised name)."""
    m = _ASKED.match(request.strip())
    asked = word_stems(m.group(1)) if m and not m.group(1)[:1].isupper() else set()
    return len(asked & tool_words) / len(asked) if asked else ASKED_UNKNOWN


def decide(probs: dict[str, float], required: bool) -> tuple[str | None, dict[str, Any]]:
    """The tool to call (the likeliest, when it clears CALL_PROBABILITY or a call is required), and why."""
    best = max(probs, key=lambda k: probs[k])
    chosen = best if required or probs[best] >= CALL_PROBABILITY else None
    return chosen, {"probabilities": {k: round(v, 3) for k, v in probs.items()}, "chosen": chosen}


def probability(feats: dict[str, float], weights: dict[str, float] = WEIGHTS) -> float:
    z = weights["bias"] + sum(w * (feats[k] - MEAN[k]) / SCALE[k] for k, w in weights.items() if k != "bias")
    return 1 / (1 + math.exp(-z))


def word_probabilities(request: str, tools: list[dict[str, Any]]) -> dict[str, float]:
    """Each tool's probability by the words alone (WORD_WEIGHTS)."""
    return {_name(t): probability(word_features(request, t), WORD_WEIGHTS) for t in tools}


def own_name_words(tools: list[dict[str, Any]]) -> dict[str, set[str]]:
    """Each tool's name words (as stems) that no other tool's name has: "varia" of statistics.variance
    beside statistics.median and statistics.mode; "humid" of weather_forecast_humidity."""
    words = {_name(t): word_stems(_name(t)) for t in tools}
    return {n: own - set().union(*(w for m, w in words.items() if m != n)) for n, own in words.items()}


def has_words(request: str) -> bool:
    """Whether the request has a content word: without one ("What is 17*23?") the words are never sure."""
    return bool(word_stems(request))


def by_words(request: str, tools: list[dict[str, Any]]) -> dict[str, float] | None:
    """Each tool's probability by the words alone, when they are sure of the decision (has_words);
    else None."""
    probs = word_probabilities(request, tools)
    ranked = sorted(probs.values(), reverse=True)
    if not ranked or not has_words(request):
        return None
    sure_call = ranked[0] >= SURE_CALL and all(p < SURE_OTHERS for p in ranked[1:])
    return probs if sure_call or ranked[0] <= SURE_NONE else None


class Router:
    """Scores requests against tools with the model, reusing what it already computed. Each tool's
    description stays in the KV cache in a sequence of its own (up to half the context's sequences),
    so a request's clauses, scored after the whole request, cost only their own tokens; and the
    requests scored after one description share one batch, each in a sequence that holds the
    description too (llama.cpp's unified KV cache: a cell can belong to several sequences)."""

    def __init__(self, llm: Any) -> None:
        import llama_cpp

        self.llm = llm
        self._prefix_cache: dict[str, list[int]] = {}
        # prefix -> target -> the target's log-probability per token: a target scored again, or one
        # that begins another ("Find the area" of "Find the area and the perimeter"), is read off it
        self._scored: dict[tuple[int, ...], dict[tuple[int, ...], list[float]]] = {}
        # the descriptions the KV cache holds, least recently used first: tokens -> (sequence, the
        # log-probabilities after them, which predict a request's first token)
        self._heads: dict[tuple[int, ...], tuple[int, Any]] = {}
        sequences = max(1, int(llama_cpp.llama_n_seq_max(llm._ctx.ctx)))
        self._slots = max(1, sequences // 2)  # sequences for descriptions; the rest hold requests
        self._scratch = list(range(self._slots, sequences))

    def _tokens(self, text: str, limit: int) -> list[int]:
        if text not in self._prefix_cache:
            self._prefix_cache[text] = self.llm.tokenize(text.encode(), add_bos=False, special=False)
        return self._prefix_cache[text][:limit]

    def scores_many(
        self, requests: list[str], tools: list[dict[str, Any]], prefix_of: Callable[[dict[str, Any]], str] = tool_prefix
    ) -> list[dict[str, float]]:
        """pmi of each request with each tool (or agent: `prefix_of` renders what the request follows);
        tool by tool, so each description is evaluated once."""
        reqs = [
            self.llm.tokenize((" " + r.strip()).encode(), add_bos=False, special=False)[-MAX_REQUEST_TOKENS:]
            for r in requests
        ]
        base = self._logprob_many(self._tokens(BASELINE_PREFIX, MAX_DESCRIPTION_TOKENS), reqs)
        out: list[dict[str, float]] = [{} for _ in reqs]
        for t in tools:
            scored = self._logprob_many(self._tokens(prefix_of(t), MAX_DESCRIPTION_TOKENS), reqs)
            for i, lp in enumerate(scored):
                out[i][_name(t)] = lp - base[i]
        return out

    def scores(self, request: str, tools: list[dict[str, Any]]) -> dict[str, float]:
        """pmi of the request with each tool, by the tool's name."""
        return self.scores_many([request], tools)[0]

    def probabilities_near(self, request: str, tools: list[dict[str, Any]]) -> dict[str, float]:
        """The probability that the request needs each tool, with the model's evidence for the tools
        the words make nearly as likely as the best (NEAR_BEST); 0 for the others, unscored."""
        words = word_probabilities(request, tools)
        top = max(words.values(), default=0.0)
        near = [t for t in tools if words[_name(t)] >= NEAR_BEST * top]
        return {_name(t): 0.0 for t in tools} | self.probabilities(request, near)

    def probabilities_many(self, requests: list[str], tools: list[dict[str, Any]]) -> list[dict[str, float]]:
        """The calibrated probability that each request needs each tool, with the model's evidence."""
        pmis = self.scores_many(requests, tools)
        return [
            {_name(t): probability(features(request, t, pmi[_name(t)])) for t in tools}
            for request, pmi in zip(requests, pmis, strict=True)
        ]

    def probabilities(self, request: str, tools: list[dict[str, Any]]) -> dict[str, float]:
        return self.probabilities_many([request], tools)[0]

    def words_first(self, request: str, tools: list[dict[str, Any]]) -> tuple[dict[str, float], str]:
        """Each tool's probability, and what gave it: the words when they are sure ("words"), else the
        model's evidence for the tools near the best ("model")."""
        sure = by_words(request, tools)
        return (sure, "words") if sure is not None else (self.probabilities_near(request, tools), "model")

    def choose(self, request: str, tools: list[dict[str, Any]], required: bool) -> tuple[str | None, dict[str, Any]]:
        """The tool to call and why (words_first)."""
        probs, by = self.words_first(request, tools)
        chosen, route = decide(probs, required)
        return chosen, {**route, "by": by}

    def _logprob_many(self, prefix: list[int], targets: list[list[int]]) -> list[float]:
        """log P(target | prefix) for each target."""
        return [sum(each) for each in self._logprobs_many(prefix, targets)]

    def _logprobs_many(self, prefix: list[int], targets: list[list[int]]) -> list[list[float]]:
        """The log-probability of each target token after the prefix and the tokens before it. Targets
        scored before, or that begin one scored before, are read off it; the others are evaluated
        after the prefix, as many in one batch as there are free sequences."""
        known = self._scored.setdefault(tuple(prefix), {})

        def read_off(target: list[int]) -> list[float] | None:
            for longer, each in known.items():
                if longer[: len(target)] == tuple(target):
                    return each[: len(target)]
            return None

        out = [read_off(t) if t else [] for t in targets]
        todo = list({tuple(t): t for t, each in zip(targets, out, strict=True) if each is None}.values())
        fresh: dict[tuple[int, ...], list[float]] = {}
        for chunk in self._batches(prefix, todo):
            try:
                scored = self._decode(prefix, chunk)
            except _KvFull:  # a small context: the descriptions kept go, and the targets one at a time
                self.forget()
                scored = [each for t in chunk for each in self._decode(prefix, [t])]
            fresh.update({tuple(t): each for t, each in zip(chunk, scored, strict=True)})
        if sum(map(len, self._scored.values())) > 4096:
            self._scored.clear()
        self._scored.setdefault(tuple(prefix), {}).update(fresh)
        return [each if each is not None else fresh[tuple(t)] for t, each in zip(targets, out, strict=True)]

    def _batches(self, prefix: list[int], targets: list[list[int]]) -> list[list[list[int]]]:
        """The targets in groups that fit one batch: a sequence each, at most n_batch tokens (llama.cpp
        aborts on more; the description goes in a batch of its own when it does not fit with them)."""
        import llama_cpp

        room = int(llama_cpp.llama_n_batch(self.llm._ctx.ctx))
        groups: list[list[list[int]]] = []
        for target in targets:
            if max(len(target), len(prefix) + 1) > room:
                raise EdgeError(
                    f"a request of {len(target)} tokens does not fit the context's batch for routing",
                    "raise --ctx (or EDGEAGENT_CTX)",
                    ExitCode.FAILURE,
                )
            if not groups or len(groups[-1]) > len(self._scratch) or sum(map(len, groups[-1])) + len(target) > room:
                groups.append([])
            groups[-1].append(target)
        return groups

    def forget(self) -> None:
        """Empty the KV cache of what the router kept. Called before a request is routed: the model's
        log-probabilities move a little with where a batch's cells fall in the cache (up to a nat over
        a request: other kernels), so its scores depend on it and its tools alone. And after: a
        completion may need every cell of the context. The whole cache goes, so llama-cpp-python is told
        it holds nothing (else its next completion would reuse a prefix that is gone)."""
        import llama_cpp

        llama_cpp.llama_memory_clear(llama_cpp.llama_get_memory(self.llm._ctx.ctx), True)
        self.llm.n_tokens = 0
        self._heads.clear()

    def _decode(self, prefix: list[int], targets: list[list[int]]) -> list[list[float]]:
        """One batch: the prefix (unless its sequence holds it), then each target in a sequence of its
        own that holds the prefix; log-probabilities per target token."""
        import llama_cpp
        import numpy as np

        llm = self.llm
        ctx = llm._ctx.ctx
        memory = llama_cpp.llama_get_memory(ctx)
        if llm.n_tokens != 0:  # the context served a completion since: its KV memory is not ours
            self.forget()
        llm.n_tokens = 0  # and the high-level cache no longer matches the KV memory
        bos = [llm.token_bos()] if llm._model.add_bos_token() and llm.token_bos() >= 0 else []
        head = tuple(bos + prefix)
        known = self._heads.pop(head, None)
        if known is None:
            used = {slot for slot, _ in self._heads.values()}
            free = [s for s in range(self._slots) if s not in used]
            if not free:  # the least recently used description makes room
                free = [self._heads.pop(next(iter(self._heads)))[0]]
            slot, first_row = free[0], None
            llama_cpp.llama_memory_seq_rm(memory, slot, -1, -1)
        else:
            slot, first_row = known
        seqs = [slot, *self._scratch[: len(targets) - 1]]
        if first_row is None and len(head) + sum(map(len, targets)) > llama_cpp.llama_n_batch(ctx):
            first_row = self._decode_head(head, slot)
        if first_row is not None:
            for seq in seqs[1:]:
                llama_cpp.llama_memory_seq_cp(memory, slot, seq, 0, len(head))
        n_head = 0 if first_row is not None else len(head)
        n = n_head + sum(len(t) for t in targets)
        batch = llama_cpp.llama_batch_init(n, 0, len(seqs))
        rows: list[list[int]] = []  # per target, the batch index whose logits predict each token after the first
        try:
            for i in range(n_head):
                batch.token[i], batch.pos[i], batch.n_seq_id[i] = head[i], i, len(seqs)
                for j, seq in enumerate(seqs):
                    batch.seq_id[i][j] = seq
                batch.logits[i] = i == n_head - 1
            i = n_head
            for target, seq in zip(targets, seqs, strict=True):
                rows.append(list(range(i, i + len(target) - 1)))
                for j, tok in enumerate(target):
                    batch.token[i], batch.pos[i], batch.n_seq_id[i] = tok, len(head) + j, 1
                    batch.seq_id[i][0] = seq
                    batch.logits[i] = j < len(target) - 1
                    i += 1
            batch.n_tokens = n
            _submit(ctx, batch)
            n_vocab = llm.n_vocab()
            if first_row is None:
                first_row = np.array(_log_softmax(ctx, n_head - 1, n_vocab))
            out = [
                [float(first_row[target[0]])]
                + [float(_log_softmax(ctx, r, n_vocab)[tok]) for r, tok in zip(idx, target[1:], strict=True)]
                for target, idx in zip(targets, rows, strict=True)
            ]
        finally:
            llama_cpp.llama_batch_free(batch)
            llama_cpp.llama_memory_seq_rm(memory, slot, len(head), -1)
            for seq in seqs[1:]:
                llama_cpp.llama_memory_seq_rm(memory, seq, -1, -1)
        self._heads[head] = (slot, first_row)
        return out

    def _decode_head(self, head: tuple[int, ...], slot: int) -> Any:
        """The description alone into its sequence; the log-probabilities after it."""
        import llama_cpp
        import numpy as np

        ctx = self.llm._ctx.ctx
        batch = llama_cpp.llama_batch_init(len(head), 0, 1)
        try:
            for i, tok in enumerate(head):
                batch.token[i], batch.pos[i], batch.n_seq_id[i], batch.logits[i] = tok, i, 1, i == len(head) - 1
                batch.seq_id[i][0] = slot
            batch.n_tokens = len(head)
            _submit(ctx, batch)
            return np.array(_log_softmax(ctx, len(head) - 1, self.llm.n_vocab()))
        finally:
            llama_cpp.llama_batch_free(batch)


def _submit(ctx: Any, batch: Any) -> None:
    """llama_decode, with a full KV cache told apart from a failure."""
    import llama_cpp

    status = llama_cpp.llama_decode(ctx, batch)
    if status == 1:
        raise _KvFull
    if status != 0:
        raise RuntimeError("llama_decode failed while routing")


def _log_softmax(ctx: Any, index: int, n_vocab: int) -> Any:
    """The log-probabilities of the next token from a batch's row of logits."""
    import llama_cpp
    import numpy as np

    row = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(ctx, index), shape=(n_vocab,))
    m = float(row.max())
    return row - (m + math.log(float(np.exp(row - m).sum())))


class _KvFull(Exception):
    """llama_decode found no room in the KV cache for the batch."""


def _name(tool: dict[str, Any]) -> str:
    return str(tool.get("function", tool)["name"])
