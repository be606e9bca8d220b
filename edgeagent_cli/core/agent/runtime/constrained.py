"""Greedy decoding under a grammar, with prefix backoff for tokens that merge text and structure.

Plain grammar sampling masks every token the grammar rejects and takes the best of the rest. That
goes wrong in a typical way: after `{"expression": "17*23` SmolLM2's first choice is the single
token `",` (close the string, then another argument). The grammar rejects it (there is no other
argument) and the best remaining token is a plain `,` *inside* the string, so the value becomes
"17*23," or swallows `}}\\n</tool_call>` and never closes. Prefix backoff takes what the model meant:
when its first choice is rejected, the longest token that is a prefix of it, made only of closing
quotes and brackets, that the grammar accepts (here `"`). A second rule closes a string whose model
forgot the quote (`_forgot_quote`). Backing off to other prefixes misleads: ` {"` (a nested object)
backed off to ` ` and the model, now after a bare space, wrote `""`. Otherwise the best accepted
token among the top candidates, and only when none of those is accepted, the whole vocabulary
under the grammar.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from typing import Any

TOP_K = 40  # candidates checked against the grammar per step before falling back to the full vocabulary


class ConstrainedDecoder:
    def __init__(self, llm: Any) -> None:
        import llama_cpp

        self.lib = llama_cpp
        self.llm = llm
        self.vocab = llama_cpp.llama_model_get_vocab(llm._model.model)
        self.n_vocab = llm.n_vocab()
        self._pieces: list[bytes] = []
        self._by_piece: dict[bytes, int] = {}
        self._small = (llama_cpp.llama_token_data * TOP_K)()
        self._full: Any = None
        self._quote = 0
        self.logprob = 0.0  # the log-probability of the last completion, under the grammar's choices

    def _piece_table(self) -> None:
        """Every token's bytes, once (about 60 ms for a 49k vocabulary)."""
        buf = ctypes.create_string_buffer(256)
        for tok in range(self.n_vocab):
            n = self.lib.llama_token_to_piece(self.vocab, tok, buf, len(buf), 0, False)
            piece = buf.raw[: max(n, 0)]
            self._pieces.append(piece)
            if piece and piece not in self._by_piece:
                self._by_piece[piece] = tok
        self._quote = self._by_piece.get(b'"', 0)

    def _feed(self, tokens: list[int]) -> None:
        """Evaluate the prompt, reusing the KV cache for the prefix it shares with the last one."""
        llm = self.llm
        common = 0
        cached = llm.input_ids[: llm.n_tokens]
        for a, b in zip(cached, tokens, strict=False):
            if a != b:
                break
            common += 1
        common = min(common, len(tokens) - 1)  # the last prompt token is evaluated again for its logits
        llm.n_tokens = common
        llm.eval(tokens[common:])

    def _accepted(self, smpl: Any, ids: list[int], logits: Any) -> list[bool]:
        lib = self.lib
        n = len(ids)
        arr = self._small if n <= TOP_K else (lib.llama_token_data * n)()
        for i, tok in enumerate(ids):
            arr[i].id = tok
            arr[i].logit = float(logits[tok])
            arr[i].p = 0.0
        cur = lib.llama_token_data_array(data=arr, size=n, selected=-1, sorted=False)
        lib.llama_sampler_apply(smpl, ctypes.byref(cur))
        return [arr[i].logit != float("-inf") for i in range(n)]

    def _best_of_all(self, smpl: Any, logits: Any) -> int:
        """The best token the grammar accepts anywhere in the vocabulary (numpy over the C array: a
        Python loop over 49k tokens took 50 ms)."""
        import numpy as np

        lib = self.lib
        if self._full is None:
            self._full = (lib.llama_token_data * self.n_vocab)()
        view = np.frombuffer(self._full, dtype=np.dtype([("id", "<i4"), ("logit", "<f4"), ("p", "<f4")]))
        view["id"] = np.arange(self.n_vocab, dtype=np.int32)
        view["logit"] = logits[: self.n_vocab]
        view["p"] = 0.0
        cur = lib.llama_token_data_array(data=self._full, size=self.n_vocab, selected=-1, sorted=False)
        lib.llama_sampler_apply(smpl, ctypes.byref(cur))
        # the grammar sets what it rejects to -inf and leaves the order as it was
        best = int(np.argmax(view["logit"]))
        if view["logit"][best] == -np.inf:
            raise RuntimeError("the grammar accepts no token here")
        return int(view["id"][best])

    def _pick(self, smpl: Any, logits: Any, text: bytes) -> int:
        import numpy as np

        best = np.argpartition(-logits, TOP_K)[:TOP_K]
        top = [int(t) for t in best[np.argsort(-logits[best])]]
        ok = self._accepted(smpl, top, logits)
        if ok[0] and self._quote and _forgot_quote(text, self._pieces[top[0]]):
            if self._accepted(smpl, [self._quote], logits)[0]:
                return self._quote
        if ok[0]:
            return top[0]
        wanted = self._pieces[top[0]]
        for end in range(len(wanted) - 1, 0, -1):
            if wanted[:end].strip(b'"]}') or not wanted[:end].strip():
                continue  # only a closing quote or bracket: " {" backed off to " " means nothing
            tok = self._by_piece.get(wanted[:end])
            if tok is not None and self._accepted(smpl, [tok], logits)[0]:
                return tok
        for tok, good in zip(top, ok, strict=True):
            if good:
                return tok
        return self._best_of_all(smpl, logits)

    def generate(
        self,
        prompt: str,
        grammar: str,
        max_tokens: int,
        until: Callable[[str], bool] | None = None,
        closing: str = "",
    ) -> tuple[str, str, int]:
        """(text, finish reason, tokens) of a greedy completion that the grammar accepts.

        `closing`: the text the grammar forces once a JSON value is complete (a grounded call's
        `}\n</tool_call>`). Decoding ends when the model begins it, and it is written without being
        evaluated: 7 of a typical call's 20 decode steps (`{"radius": 5}}` then `\n</tool_call>` and
        the end token). `logprob` and the token count are those of the tokens decoded.
        """
        import numpy as np

        lib, llm = self.lib, self.llm
        if not self._pieces:
            self._piece_table()
        tokens = llm.tokenize(prompt.encode(), add_bos=True, special=True)
        smpl = lib.llama_sampler_init_grammar(self.vocab, grammar.encode(), b"root")
        if not smpl:
            raise ValueError("llama.cpp could not parse the tool-call grammar")
        out, count, finish = b"", 0, "length"
        self.logprob = 0.0
        try:
            self._feed(tokens)
            ctx = llm._ctx.ctx
            while count < max_tokens:
                logits = np.ctypeslib.as_array(lib.llama_get_logits_ith(ctx, -1), shape=(self.n_vocab,))
                tok = self._pick(smpl, logits, out)
                top = float(logits.max())
                self.logprob += float(logits[tok]) - top - float(np.log(np.exp(logits - top).sum()))
                if lib.llama_vocab_is_eog(self.vocab, tok):
                    finish = "stop"
                    break
                lib.llama_sampler_accept(smpl, tok)
                out += self._pieces[tok]
                count += 1
                if closing and b"}" in self._pieces[tok] and (done := _closed(out, closing)) is not None:
                    out, finish = done, "stop"
                    break
                if until is not None and until(out.decode(errors="ignore")):
                    finish = "stop"
                    break
                llm.eval([tok])
        finally:
            lib.llama_sampler_free(smpl)
        return out.decode(errors="replace"), finish, count


def _closed(text: bytes, closing: str) -> bytes | None:
    """The text with its closing written out, when it is a complete JSON value followed by the start
    of `closing`; else None."""
    import json

    value = text.decode(errors="ignore")
    try:
        _, end = json.JSONDecoder().raw_decode(value)
    except ValueError:
        return None
    rest = value[end:].lstrip(" ")
    return (value[:end] + closing).encode() if rest and closing.startswith(rest) else None


def _forgot_quote(text: bytes, piece: bytes) -> bool:
    """Inside a string value, the model writes only closing brackets (`}}`) with no opening one in
    the value: it meant to end the value and the object, and forgot the quote. SmolLM2 does this in
    prompts with many tools: `"expression": "17*23}}</tool_call>`, a string that never closes."""
    if not piece or piece.strip(b"}]") or not piece.strip():
        return False
    inside, start, escaped = False, 0, False
    for i, ch in enumerate(text):
        if escaped:
            escaped = False
        elif ch == 0x5C:  # backslash
            escaped = inside
        elif ch == 0x22:  # quote
            inside, start = not inside, i + 1
    if not inside:
        return False
    value = text[start:]
    return bool(value) and value.count(b"{") <= value.count(b"}") and value.count(b"[") <= value.count(b"]")
