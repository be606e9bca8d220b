"""The in-process runtime: llama-cpp-python, the model's chat template, grammar-constrained calls.

Two prompt formats. A model whose chat template has a tool section (Qwen2.5, Llama 3.2, Phi-4-mini,
FunctionGemma) gets its tools through that template and decides for itself. Any other model gets our
format (toolcall.system_prompt) and two stages: the router chooses the tool or none, then, for a call,
the grammar fills its arguments. A turn after tool results runs free, and the grammar engages only
if the model opens a `<tool_call>`; so free-text answers stay free.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeagent_cli.core.agent import toolcall
from edgeagent_cli.core.agent.runtime import OnText, Reply
from edgeagent_cli.core.agent.runtime.template import ChatTemplate, TemplateError
from edgeagent_cli.core.agent.toolcall import CALL_OPEN, ToolCall
from edgeagent_cli.core.agent.toolcall.grammar import CALL_END
from edgeagent_cli.core.agent.toolcall.ground import (
    commands,
    covered,
    echoes_name,
    grounded_grammar,
    leftover,
    numbers,
    read_back,
    stated_twice,
)
from edgeagent_cli.core.agent.toolcall.split import (
    clauses,
    conform,
    expand,
    follow_up,
    frames,
    has_values,
    names_only,
    reach,
    refer,
    repeated,
    rest_after,
    restates,
    same_as,
)
from edgeagent_cli.core.errors import EdgeError, ExitCode

# Greedy decoding loops on small models ("A: I'm a joke" x 40); llama.cpp's common default of 1.1
# breaks the loop. Only for an answer to the user's words: under a grammar a repeated key or digit is
# legitimate, and after a tool result the answer should copy it (with the penalty, SmolLM2 turned
# "17*23 = 391" into "17*23 = 4097").
REPEAT_PENALTY = 1.1
ANSWER_ROOM = 16  # tokens the context must have left after the prompt for the answer to begin
NEXT_CALLS = 5  # further calls the model may make after a one-step plan's first, one at a time
ROUTER_SEQUENCES = 16  # the context's sequences: half keep tool descriptions, half score requests (Router)
# In the plain 'role: text' prompt a line that opens with a role is the next turn: a pretrained model
# (Gemma 3 270M) otherwise writes "assistant: ..." again and again until max_tokens (7 s an answer).
PLAIN_STOPS = [f"\n{role}:" for role in ("user", "assistant", "system")]
DISTINCT_ROUNDS = 3  # values barred in turn, at most: three parameters with one value need two


@dataclass
class Step:
    """One call a request needs: the tool, the words it serves, and the step it repeats with changes."""

    tool: str
    text: str
    follows: int | None = None


class LocalRuntime:
    def __init__(
        self,
        path: Path,
        llama: dict[str, Any] | None = None,
        *,
        grammar: bool = True,
        router: bool = True,
        max_tokens: int = 512,
        temperature: float = 0.0,
        seed: int = 0,
        name: str | None = None,
        chat_template: str | None = None,
    ) -> None:
        """`llama`: llama_cpp.Llama arguments (n_ctx, n_threads, n_gpu_layers, ...; see open.llama_kwargs)."""

        from edgeagent_cli.core.util.llama_logs import quiet_logs

        quiet_logs()
        self.name = name or path.name
        self.llm = load_llama(path, self.name, {"n_ctx": 4096, **(llama or {}), "seed": seed})
        self.grammar = grammar
        self.use_router = router
        self.max_tokens = max_tokens
        self.temperature = temperature
        meta = self.llm.metadata
        self.custom_template = chat_template is not None
        self.template = chat_template or meta.get("tokenizer.chat_template") or ""
        self.native_tools = "tools" in self.template
        # What a transcript should say about how this model was prompted.
        self.notes: list[str] = []
        if not self.template:
            self.notes.append(
                f"{self.name} has no chat template: the agent's plain 'role: text' prompt is used (or --chat-template FILE)"
            )
        self._eos = self.llm.detokenize([self.llm.token_eos()], special=True).decode(errors="ignore")
        bos_id = self.llm.token_bos()
        self._bos = self.llm.detokenize([bos_id], special=True).decode(errors="ignore") if bos_id >= 0 else ""
        self._formatter: ChatTemplate | None = None
        self._router: Any = None
        self._grammars: dict[tuple[str, str | None, bool], str] = {}
        self._decoder: Any = None
        self._plans: dict[tuple[str, str, str], tuple[list[Step], dict[str, Any]]] = {}

    # --- prompt ---------------------------------------------------------------------------------------
    def _render(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None) -> tuple[str, list[str]]:
        if not self.template:
            plain = _plain_prompt(messages)
            self._check_fits(plain)
            return plain, PLAIN_STOPS
        if self._formatter is None:
            where = f"the chat template of {self.name}" if not self.custom_template else "--chat-template"
            self._formatter = ChatTemplate(self.template, where, self._eos, self._bos)
        prompt = self._formatter.render(messages, tools)
        if self._bos and prompt.startswith(self._bos):
            prompt = prompt[len(self._bos) :]  # create_completion adds BOS itself
        self._check_fits(prompt)
        return prompt, [self._eos] if self._eos else PLAIN_STOPS

    def _check_fits(self, prompt: str) -> None:
        """A prompt the context cannot hold fails now, in one line, not after minutes of decoding."""
        n_ctx = self.llm.n_ctx()
        n_prompt = len(self.llm.tokenize(prompt.encode(), add_bos=True, special=True))
        if n_prompt + ANSWER_ROOM > n_ctx:
            raise EdgeError(
                f"the conversation is {n_prompt} tokens and the context holds {n_ctx}",
                "raise --ctx (or EDGEAGENT_CTX), shorten the input, or /reset",
                ExitCode.FAILURE,
            )

    def _ours(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]], settled: bool = False
    ) -> list[dict[str, Any]]:
        """Messages for a model without a tool format: our system prompt, calls as text, results as `tool`.
        `settled`: the prompt of one tool's call arguments (toolcall.call_system_prompt)."""
        user_system = "\n".join(m["content"] for m in messages if m["role"] == "system" and m.get("content"))
        out: list[dict[str, Any]] = []
        if tools and settled:
            out.append({"role": "system", "content": toolcall.call_system_prompt(tools[0], user_system)})
        elif tools:
            out.append({"role": "system", "content": toolcall.system_prompt(tools, user_system)})
        elif user_system:
            out.append({"role": "system", "content": user_system})
        called: dict[str, str] = {}  # tool_call_id -> the tool's name
        last_name = "the tool"
        for m in messages:
            if m["role"] == "system":
                continue
            if m["role"] == "assistant" and m.get("tool_calls"):
                calls = [
                    ToolCall(c["function"]["name"], json.loads(c["function"]["arguments"] or "{}"))
                    for c in m["tool_calls"]
                ]
                called.update({str(c.get("id")): c["function"]["name"] for c in m["tool_calls"]})
                last_name = calls[-1].name if calls else last_name
                text = "\n".join(toolcall.render_call(c) for c in calls)
                out.append({"role": "assistant", "content": ((m.get("content") or "") + "\n" + text).strip()})
            elif m["role"] == "tool":
                # A small chat model never saw a `tool` turn; it reads a result the user hands it. Measured
                # on five calls (arithmetic, weather, time, files): answers used the result 5/5 this way,
                # 3/5 as a `tool` turn.
                name = called.get(str(m.get("tool_call_id")), m.get("name") or last_name)
                out.append({"role": "user", "content": f"The result of {name}: {m.get('content') or ''}"})
            else:
                out.append({"role": m["role"], "content": m.get("content") or ""})
        return out

    # --- generation -----------------------------------------------------------------------------------
    def _generate(
        self,
        prompt: str,
        stops: list[str],
        grammar: Any = None,
        on_text: OnText | None = None,
        watch_call: bool = False,
        penalty: bool = False,
        until: Callable[[str], bool] | None = None,
    ) -> tuple[str, str, int, bool]:
        """Stream a completion. With watch_call, stop as soon as the text opens a tool call;
        with `until`, as soon as it says the text is complete.

        Returns (text, finish_reason, completion_tokens, opened_call).
        """
        text, finish, count = "", "stop", 0
        held = ""  # text not yet shown: it might be the start of a call
        stream: Any = self.llm.create_completion(
            prompt,
            max_tokens=self.max_tokens,
            temperature=self.temperature,
            stop=stops,
            stream=True,
            grammar=grammar,
            repeat_penalty=REPEAT_PENALTY if penalty else 1.0,
        )
        try:
            for chunk in stream:
                choice = chunk["choices"][0]
                piece = choice.get("text") or ""
                count += 1
                text += piece
                finish = choice.get("finish_reason") or finish
                if until is not None and until(text):
                    break
                if watch_call:
                    lead = text.lstrip()
                    if lead.startswith(CALL_OPEN):
                        return text, "tool_calls", count, True
                    if any(s.startswith(lead) or lead.startswith(s) for s in toolcall.CALL_STARTS):
                        held += piece  # maybe a call in another format (JSON, <|tool_call|>): parsed at the end
                        continue
                if on_text:
                    on_text(held + piece)
                held = ""
        finally:
            stream.close()
        if held and on_text and not toolcall.parse_calls(text):
            on_text(held)
        return text, finish, count, False

    def _grammar(self, tools: list[dict[str, Any]], first: str | None, tight: bool = False) -> str:
        key = (json.dumps(tools, sort_keys=True), first, tight)
        if key not in self._grammars:
            self._grammars[key] = toolcall.call_grammar(tools, first, **(toolcall.TIGHT if tight else {}))
        return self._grammars[key]

    def _call(
        self, prompt: str, stops: list[str], tools: list[dict[str, Any]], name: str | None, route: dict[str, Any] | None
    ) -> tuple[str, str, int]:
        """Generate a call in our format from the prefix, constrained by the tools' grammar if enabled.

        Further (parallel) calls may only go to tools the router found relevant: left free, a small
        model walks down the tool list and calls every tool in turn.
        """
        prefix = toolcall.call_prefix(name)
        if route and route.get("probabilities"):
            from edgeagent_cli.core.agent.runtime.router import CALL_PROBABILITY

            relevant = {k for k, v in route["probabilities"].items() if v >= CALL_PROBABILITY} | {name}
            tools = [t for t in tools if t.get("function", t)["name"] in relevant]
        elif route and route.get("forced") and name:
            tools = [t for t in tools if t.get("function", t)["name"] == name]
        until = lambda t: _repeats_a_call(prefix + t)  # noqa: E731
        if not self.grammar:
            text, finish, count, _ = self._generate(prompt + prefix, stops, until=until)
            return prefix + text, finish, count
        text, finish, count = self.decoder().generate(
            prompt + prefix, self._grammar(tools, name), self.max_tokens, until
        )
        if finish == "length" and not toolcall.parse_calls(prefix + text):
            text, finish, more = self.decoder().generate(
                prompt + prefix, self._grammar(tools, name, tight=True), self.max_tokens
            )
            count += more
        return prefix + text, finish, count

    # --- a turn -------------------------------------------------------------------------------------
    def turn(
        self,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]],
        tool_choice: str = "auto",
        on_text: OnText | None = None,
    ) -> Reply:
        t0 = time.perf_counter()
        use_tools = bool(tools) and tool_choice != "none"
        route: dict[str, Any] | None = None
        if not use_tools:
            prompt, stops = self._render(messages, None)
            text, finish, count, _ = self._generate(prompt, stops, on_text=on_text, penalty=_fresh(messages))
            return self._reply(text, [], finish, prompt, count, t0)
        if self.native_tools:
            prompt, stops = self._render(_native(messages), tools)
            names = [t.get("function", t)["name"] for t in tools]
            chosen = tool_choice if tool_choice in names else None
            route = {"chosen": chosen, "forced": True} if chosen or tool_choice == "required" else None
        elif self.use_router and self.grammar:
            return self._planned(messages, tools, tool_choice, on_text, t0)
        else:
            prompt, stops = self._render(self._ours(messages, tools), None)
            chosen, route = self._decide(messages, tools, tool_choice)
        if chosen is None and not (route and route.get("forced")):
            text, finish, count, opened = self._generate(
                prompt, stops, on_text=on_text, watch_call=True, penalty=_fresh(messages)
            )
            if not opened:
                return self._reply(text, toolcall.parse_calls(text), finish, prompt, count, t0, route)
            prompt = prompt + text[: text.index(CALL_OPEN)]
        text, finish, count = self._call(prompt, stops, tools, chosen, route)
        calls = toolcall.unique(toolcall.parse_calls(text))
        reply = self._reply(text, calls, finish, prompt, count, t0, route)
        if not calls:
            reply.malformed = text
        return reply

    # --- the planned path: route, ground, split ------------------------------------------------------
    def _planned(
        self,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]],
        tool_choice: str,
        on_text: OnText | None,
        t0: float,
    ) -> Reply:
        """A turn in our format, planned: which tools the request needs, clause by clause (router),
        each call's values grounded in the clause (toolcall.ground), listed items as calls of their
        own (toolcall.split). After tool results the plan says whether calls remain; when none do,
        the model answers from the results."""
        asked = _last_user(messages)
        plan, route = (
            self._plan(messages[asked]["content"] or "", tools, tool_choice) if asked is not None else ([], None)
        )
        done = _called_since(messages, asked)
        remaining: list[int] = []
        for k, step in enumerate(plan):
            if done.get(step.tool):
                done[step.tool] -= 1
            else:
                remaining.append(k)
        if not remaining:
            return self._answer(messages, tools, on_text, t0, route)
        by_name = {t.get("function", t)["name"]: t for t in tools}
        made: dict[int, dict[str, Any]] = {}  # plan step -> the arguments its call was given
        calls: list[ToolCall] = []
        single: list[int] = []  # calls that are their step's only call
        raw, count, prompt, finish = "", 0, "", "stop"
        first: dict[
            str, int
        ] = {}  # one tool's calls in a row: their prompts share the tool's description in the KV cache
        for k in remaining:
            first.setdefault(plan[k].tool, k)
        for k in sorted(remaining, key=lambda k: first[plan[k].tool]):
            step = plan[k]
            tool = by_name[step.tool]
            params = tool.get("function", tool).get("parameters") or {}
            base = made.get(step.follows) if step.follows is not None else None
            if base is not None:
                args = follow_up(base, step.text, params)
                if args is not None:
                    calls += [ToolCall(step.tool, a) for a in conform(expand(args, step.text), params)]
                continue
            text = step.text if step.follows is None else f"{plan[step.follows].text} {step.text}"
            head = messages[: asked if asked is not None else len(messages)] + [{"role": "user", "content": text}]
            prompt, _ = self._render(self._ours(head, [tool], settled=True), None)
            prefix = toolcall.call_prefix(step.tool)
            decoded = self._distinct(prompt + prefix, _grounding(tool, text), text)
            assert decoded is not None  # without values to avoid, a grounded grammar always exists
            _, body, finish, n = decoded
            if finish == "length" and not toolcall.parse_calls(prefix + body):  # looping inside a free value
                count += n
                decoded = self._distinct(prompt + prefix, _grounding(tool, text, tight=True), text)
                assert decoded is not None
                _, body, finish, n = decoded
            count += n
            raw += prefix + body + "\n"
            for call in toolcall.parse_calls(prefix + body):
                call = ToolCall(call.name, read_back(call.arguments, params, text))
                before = [c.arguments for c in reversed(calls)]
                if not has_values(step.text):  # "... and what his most famous discovery was": his = the name before
                    call = ToolCall(call.name, refer(call.arguments, before))
                call = ToolCall(call.name, same_as(call.arguments, step.text, before))  # "for the same day"
                made.setdefault(k, call.arguments)
                each = expand(call.arguments, text)  # items listed in one place, or frames said again
                each = each if len(each) > 1 else frames(call.arguments, text)
                if each[0] == call.arguments:  # the decoded call fits the schema; what the rules made must too
                    each = [call.arguments, *conform(each[1:], params)]
                else:
                    each = conform(each, params) or [call.arguments]
                if len(each) == 1 and len(plan) == 1:  # several tools: measured no gain, 0.8 s an entry
                    more, n = self._next_calls(prompt, tool, text, call.arguments)
                    each += conform(more, params)
                    count += n
                calls += [ToolCall(call.name, args) for args in each]
                if len(each) == 1:
                    single.append(len(calls) - 1)
        for n in reversed(single):  # a step that only restates or adds to another's call is that call
            others = [c for m, c in enumerate(calls) if m != n and c.name == calls[n].name]
            if any(restates(calls[n].arguments, c.arguments) for c in others):
                del calls[n]
        calls = toolcall.unique(calls)
        if len(calls) == 1 and len(plan) == 1:  # with more calls, a number one did not take is another's
            params = by_name[calls[0].name].get("function", by_name[calls[0].name]).get("parameters") or {}
            calls = [ToolCall(calls[0].name, leftover(calls[0].arguments, params, plan[0].text))]
        reply = self._reply(raw.strip(), calls, finish, prompt, count, t0, route)
        if not calls:
            reply.malformed = raw
        return reply

    def _distinct(
        self, prompt: str, grammar_for: Callable[[dict[str, tuple[Any, ...]]], str | None], text: str
    ) -> tuple[float, str, str, int] | None:
        """(score, text, finish reason, tokens) of the call's arguments under the grammar that
        `grammar_for` makes for the values it must avoid (None when it makes none): no two
        parameters with one value.

        Two parameters of a call almost never take the same value (2 pairs in 433 string pairs of
        BFCL's answers), but a small model often writes one value twice ("species": "deer",
        "location": "deer"). Then each of the two is decoded again barred from that value, and the
        likelier of the two calls is kept. A value that is a word of its parameter's name ("team":
        "team", ground.echoes_name) or the verb the request opens with ("Search", ground.commands) is
        decoded again barred from it.
        """
        grammar = grammar_for({})
        if grammar is None:
            return None
        score, body, finish, count = self._scored(prompt, grammar)
        opening = prompt[prompt.rindex(CALL_OPEN) :]
        avoid: dict[str, tuple[Any, ...]] = {}
        for _ in range(DISTINCT_ROUNDS):
            calls = toolcall.parse_calls(opening + body)
            pair: tuple[str, ...] | None = None
            if len(calls) == 1:
                pair = _shared_value(calls[0].arguments, text) or _echo(calls[0].arguments, text)
            if pair is None:
                break
            best: tuple[float, str, str, dict[str, tuple[Any, ...]]] | None = None
            for key in pair:
                barred = {**avoid, key: (*avoid.get(key, ()), calls[0].arguments[key])}
                grammar = grammar_for(barred)
                if grammar is None:
                    continue
                other_score, other, why, n = self._scored(prompt, grammar)
                count += n
                if toolcall.parse_calls(opening + other) and (best is None or other_score > best[0]):
                    best = (other_score, other, why, barred)
            if best is None:
                break
            score, body, finish, avoid = best
        return score, body, finish, count

    def _scored(self, prompt: str, grammar: str) -> tuple[float, str, str, int]:
        """(log-probability per token, text, finish reason, tokens) of a constrained completion: per
        token, so that calls whose values differ in length compare."""
        decoder = self.decoder()
        body, finish, n = decoder.generate(prompt, grammar, self.max_tokens, closing=CALL_END)
        return decoder.logprob / max(n, 1), body, finish, n

    def _next_calls(
        self, prompt: str, tool: dict[str, Any], text: str, first: dict[str, Any]
    ) -> tuple[list[dict[str, Any]], int]:
        """Further calls to the same tool, each made by the model after the ones before it, with values
        from the text after the last call's values ("... 3000 sq ft in New York and 4000 sq ft in Los
        Angeles"): each parameter takes a value of that text or keeps the last call's. It ends when the
        text after the last call's values has no piece that writes a value, or a call changes nothing.
        """
        name = _name(tool)
        prefix = toolcall.call_prefix(name)
        made, count = [first], 0
        at = reach(first, text)
        while at is not None and len(made) <= NEXT_CALLS:
            rest = rest_after(text, at)
            if rest is None:
                break
            shown = "".join(toolcall.render_call(ToolCall(name, args)) + "\n" for args in made)
            best: tuple[tuple[int, float], dict[str, Any], int] | None = None
            # Left free, the model writes the last call again. So its numbers change when the rest of
            # the text has as many, and besides them one string parameter in turn must change (or none):
            # the likeliest of those calls is the next one.
            last = made[-1]
            scalar = [k for k, v in last.items() if isinstance(v, str | int | float) and not isinstance(v, bool)]
            numeric = [k for k in scalar if not isinstance(last[k], str)]
            base = {k: (last[k],) for k in numeric} if numeric and len(numbers(rest)) >= len(numeric) else {}
            options = ([base] if base else []) + [{**base, k: (last[k],)} for k in scalar if k not in numeric]
            for avoid in options:
                decoded = self._distinct(prompt + shown + prefix, _grounding(tool, rest, avoid, last), text)
                if decoded is None:
                    continue
                score, body, _, n = decoded
                count += n
                calls = toolcall.parse_calls(prefix + body)
                if len(calls) != 1 or calls[0].arguments in made or _shared_value(calls[0].arguments, text):
                    continue
                args = calls[0].arguments
                changed = {k: v for k, v in args.items() if last.get(k) != v}
                end = reach(changed, rest)
                rank = (sum(reach({k: v}, rest) is not None for k, v in changed.items()), score)
                if end is not None and (best is None or rank > best[0]):
                    best = (rank, args, end)
            if best is None:
                break
            at = len(text) - len(rest) + best[2]
            made.append(best[1])
        return made[1:], count

    def _plan(self, request: str, tools: list[dict[str, Any]], tool_choice: str) -> tuple[list[Step], dict[str, Any]]:
        """The calls the request needs, each with the part of the request it serves, and how it was decided.

        The whole request decides whether any tool is called. Then each clause is routed on its own. A
        clause that lacks a number a required parameter needs follows the step before it when it states
        something to change ("do the same for $5000"), and otherwise joins the next clause.
        """
        names = [t.get("function", t)["name"] for t in tools]
        if tool_choice in names:
            return [Step(tool_choice, request)], {"chosen": tool_choice, "forced": True}
        key = (request, json.dumps(tools, sort_keys=True), tool_choice)
        if key in self._plans:
            return self._plans[key]
        from edgeagent_cli.core.agent.runtime.router import (
            CALL_PROBABILITY,
            Router,
            by_words,
            decide,
            features,
            probability,
        )

        router = self._router = self._router or Router(self.llm)
        router.forget()  # each request from an empty cache, and the cache left empty for the calls
        sentences = clauses(request)
        # Sure words decide the request when it has one tool, or one clause. Several clauses, or the sides
        # of an "and" that may join two requests, are routed among the tools the model's evidence made
        # likely: words sure of one tool would keep the others out.
        one = len(tools) == 1 or (len(sentences) == 1 and not _and_sides(request))
        sure = by_words(request, tools) if one and len(sentences) > 1 else None
        by = "words" if sure is not None else "model"
        if sure is not None:
            probs = sure
        elif len(sentences) > 1:  # the request's evidence is its clauses' together: each clause is scored once
            per = router.scores_many(sentences, tools)
            probs = {_name(t): probability(features(request, t, sum(p[_name(t)] for p in per))) for t in tools}
        elif one:
            probs, by = router.words_first(request, tools)
        else:
            probs = router.probabilities(request, tools)
        chosen, route = decide(probs, tool_choice == "required")
        route["by"] = by
        plan: list[Step] = []
        # Clauses are routed among the tools the whole request made likely: fewer model passes.
        likely = [t for t in tools if probs[_name(t)] >= CALL_PROBABILITY] or tools
        parts = sentences if chosen else []
        if chosen and len(likely) > 1:
            parts = [piece for part in parts for piece in self._split_on_and(part, likely)]
        if len(parts) > 1:
            by_name = {_name(t): t for t in tools}
            pmis = router.scores_many(parts, likely)  # one pass per tool over every clause
            carry, carried = "", {_name(t): 0.0 for t in likely}
            for part, pmi in zip(parts, pmis, strict=True):
                text = _through(request, carry, part)
                # a joined clause's evidence: about the sum of its parts' (log P(a b) = log P(a) + log P(b | a))
                joined = {k: carried[k] + v for k, v in pmi.items()}
                probs = {_name(t): probability(features(text, t, joined[_name(t)])) for t in likely}
                best = max(probs, key=lambda k: probs[k])
                params = by_name[best].get("function", by_name[best]).get("parameters") or {}
                if names_only(part, by_name[best]) or (not has_values(part) and not plan):
                    carry, carried = text, joined  # "Use the calculator.": it serves its neighbour's call
                elif not has_values(part) and not carry and best == plan[-1].tool:
                    # "I need the intersection points of these two functions.", "Also apply standardization.":
                    # more words for the step before, not a call of their own
                    plan[-1] = Step(plan[-1].tool, f"{plan[-1].text} {part}", plan[-1].follows)
                elif (probs[best] >= CALL_PROBABILITY or (plan and best == plan[-1].tool and has_values(part))) and (
                    covered(params, text) >= 1 or (not has_values(part) and not carry and best != plan[-1].tool)
                ):  # "Also, compute the total distance covered": the numbers are the step before's (refer)
                    plan.append(Step(best, text))
                    carry, carried = "", {k: 0.0 for k in carried}
                elif plan and not carry and numbers(part):
                    last = len(plan) - 1 if plan[-1].follows is None else plan[-1].follows
                    if best != plan[last].tool and probs[best] >= CALL_PROBABILITY:
                        # "... 50 shares of Apple's stock? Also calculate the dividend payout if each share
                        # returns $1.30": another tool, with the number it lacks said in the clause before
                        plan.append(Step(best, f"{plan[last].text} {part}"))
                    else:
                        plan.append(Step(plan[last].tool, part, last))
                else:
                    carry, carried = text, joined
            if carry and plan:
                plan[-1] = Step(plan[-1].tool, f"{plan[-1].text} {carry}", plan[-1].follows)
            route["clauses"] = [step.text for step in plan]
        router.forget()
        if chosen and not plan:
            plan = [Step(chosen, request)]
        plan = _named_too(plan, likely)
        plan = _repeats(plan, {_name(t): t for t in tools})
        if len(plan) > 1:
            route["clauses"] = [step.text for step in plan]
        route["plan"] = [step.tool for step in plan]
        if len(self._plans) > 64:
            self._plans.clear()
        self._plans[key] = (plan, route)
        return plan, route

    def _split_on_and(self, part: str, tools: list[dict[str, Any]]) -> list[str]:
        """ "Book a flight to Boston and book a hotel there": two requests in one sentence, when the words
        on each side of an "and" go to different tools. Lists of names and numbers ("96 and 128",
        "India and Nepal") are not split; at most three places are tried."""
        from edgeagent_cli.core.agent.runtime.router import CALL_PROBABILITY

        assert self._router is not None
        splits = _and_sides(part)
        if not splits:
            return [part]
        probs = self._router.probabilities_many([side for pair in splits for side in pair], tools)
        for k, (left, right) in enumerate(splits):
            pl, pr = probs[2 * k], probs[2 * k + 1]
            bl, br = max(pl, key=lambda n: pl[n]), max(pr, key=lambda n: pr[n])
            if bl != br and min(pl[bl], pr[br]) >= CALL_PROBABILITY:
                return [left, *self._split_on_and(right, tools)]
        return [part]

    def _answer(
        self,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]],
        on_text: OnText | None,
        t0: float,
        route: dict[str, Any] | None,
    ) -> Reply:
        """The plain answer: to the user's words, or from the tool results when the plan is done.

        A model that gives no answer after a tool result (a pretrained one may open another call)
        answers with the last result: the plan says nothing else was needed.
        """
        after_tools = bool(messages) and messages[-1]["role"] == "tool"
        prompt, stops = self._render(self._ours(messages, []), None)  # earlier calls as text, no tool list
        text, finish, count, _ = self._generate(prompt, [*stops, CALL_OPEN], on_text=on_text, penalty=not after_tools)
        if after_tools and not text.strip():
            text = messages[-1].get("content") or ""
            if on_text:
                on_text(text)
        return self._reply(text, [], finish, prompt, count, t0, route)

    def _decide(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]], tool_choice: str
    ) -> tuple[str | None, dict[str, Any] | None]:
        names = [t.get("function", t)["name"] for t in tools]
        if tool_choice in names:
            return tool_choice, {"chosen": tool_choice, "forced": True}
        if not messages or messages[-1]["role"] != "user":
            return None, None  # after tool results the model answers, or opens a call itself
        if not self.use_router:
            return None, {"forced": tool_choice == "required"} if tool_choice == "required" else None
        from edgeagent_cli.core.agent.runtime.router import Router

        self._router = self._router or Router(self.llm)
        self._router.forget()  # each request from an empty cache, and the cache left empty for the answer
        chosen, route = self._router.choose(messages[-1].get("content") or "", tools, tool_choice == "required")
        self._router.forget()
        return chosen, route

    def _reply(
        self,
        text: str,
        calls: list[ToolCall],
        finish: str,
        prompt: str,
        count: int,
        t0: float,
        route: dict[str, Any] | None = None,
    ) -> Reply:
        content = "" if calls else text.strip()
        n_prompt = len(self.llm.tokenize(prompt.encode(), add_bos=True, special=True))
        return Reply(content, calls, text, finish, n_prompt, count, time.perf_counter() - t0, self.name, route)

    def decoder(self) -> Any:
        """The grammar-constrained decoder over this model, made on first use."""
        if self._decoder is None:
            from edgeagent_cli.core.agent.runtime.constrained import ConstrainedDecoder

            self._decoder = ConstrainedDecoder(self.llm)
        return self._decoder

    def scorer(self) -> Any:
        """The likelihood scorer over this model, shared so that one object knows what the KV cache holds."""
        from edgeagent_cli.core.agent.runtime.router import Router

        self._router = self._router or Router(self.llm)
        return self._router

    def close(self) -> None:
        self.llm.close() if hasattr(self.llm, "close") else None


def _and_sides(part: str) -> list[tuple[str, str]]:
    """The first three "and"s that may join two requests, each as (left, right): three words or more on
    each side, the right side going on in lower case."""
    sides = []
    for m in _AND.finditer(part):
        left, right = part[: m.start()].strip(), part[m.end() :].strip()
        if len(right.split()) >= 3 and len(left.split()) >= 3 and right[:1].islower():
            sides.append((left, right))
    return sides[:3]


def _native(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Messages for a template with a tool section: HF templates expect call arguments as a mapping."""
    out = []
    for m in messages:
        m = {k: v for k, v in m.items() if k != "model"}
        if m.get("tool_calls"):
            m["tool_calls"] = [
                {**c, "function": {**c["function"], "arguments": json.loads(c["function"]["arguments"] or "{}")}}
                for c in m["tool_calls"]
            ]
        out.append(m)
    return out


_AND = re.compile(r",?\s+and\s+|,\s+then\s+|,\s+(?=(?:what|how|which|where|who|when)\s)")


def _name(tool: dict[str, Any]) -> str:
    return str(tool.get("function", tool)["name"])


def _last_user(messages: list[dict[str, Any]]) -> int | None:
    for i in range(len(messages) - 1, -1, -1):
        if messages[i]["role"] == "user":
            return i
    return None


def _called_since(messages: list[dict[str, Any]], start: int | None) -> dict[str, int]:
    """How many calls each tool has had since the user's last message."""
    done: dict[str, int] = {}
    for m in messages[(start or 0) + 1 :] if start is not None else []:
        for c in m.get("tool_calls") or []:
            done[c["function"]["name"]] = done.get(c["function"]["name"], 0) + 1
    return done


def _named_too(plan: list[Step], tools: list[dict[str, Any]]) -> list[Step]:
    """The plan with a step for each likely tool it lacks that a step's words ask for by its own name
    word (router.own_name_words), after that step and on its words: in a sentence after the first
    ("... time of 6 seconds. Also, compute the total distance covered": kinematics.distance_traveled),
    or joined by "and" to the step's own tool's word ("the median and variance for the data points":
    statistics.variance beside statistics.median). The router keeps the best tool of a clause, so a
    clause that asks for two gets one. Within one sentence a word of another tool's name is mostly
    what the request says of its one call ("a car at an initial speed of 20 m/s" is no call of
    calculate_final_speed): on the public slices, 4 of 100 multiple entries got a second call when
    any use of the word counted."""
    from edgeagent_cli.core.agent.runtime.router import own_name_words, word_stems

    planned = {step.tool for step in plan}
    own = own_name_words(tools)
    out: list[Step] = []
    for step in plan:
        out.append(step)
        if step.follows is not None:
            continue
        later = word_stems(" ".join(clauses(step.text)[1:]))
        words = [w.lower()[:5] for w in re.findall(r"[A-Za-z]+|[,&]", step.text) if w.lower() != "the"]
        for t in tools:
            name = _name(t)
            if name in planned or not own[name]:
                continue
            if own[name] & later or _joined(words, own[name], own.get(step.tool, set())):
                out.append(Step(name, step.text))
                planned.add(name)
    return out


def _joined(words: list[str], these: set[str], those: set[str]) -> bool:
    """Does a word of `these` stand joined by "and", "or", "," or "&" to a word of `those` ("median and
    variance", "variance, median")?"""
    for k, word in enumerate(words):
        if word not in these:
            continue
        for step in (-1, 1):
            j = k + 2 * step
            if 0 <= j < len(words) and words[k + step] in _JOINS and words[j] in those:
                return True
    return False


_JOINS = {"and", "or", ",", "&"}


def _through(request: str, carry: str, part: str) -> str:
    """The request's words from the carried clause to the end of the part it joins, as written: the
    "and" between "Determine the median" and "variance for the data points" stays."""
    start = request.find(carry) if carry else -1
    end = request.find(part, start + len(carry)) if start >= 0 else -1
    return request[start : end + len(part)] if end >= 0 else f"{carry} {part}".strip()


def _repeats(plan: list[Step], by_name: dict[str, dict[str, Any]]) -> list[Step]:
    """The plan with each step whose words say its frame again after an "and" as one step per part
    (toolcall.split.repeated), each part its own call of the step's tool."""
    out: list[Step] = []
    moved: dict[int, int] = {}  # a step's index in the plan -> in the new plan
    for k, step in enumerate(plan):
        moved[k] = len(out)
        follows = moved[step.follows] if step.follows is not None else None
        tool = by_name[step.tool]
        parts = repeated(step.text, tool.get("function", tool).get("parameters") or {}) if follows is None else []
        out += [Step(step.tool, part) for part in parts] if len(parts) > 1 else [Step(step.tool, step.text, follows)]
    return out


def _shared_value(arguments: dict[str, Any], text: str) -> tuple[str, str] | None:
    """The first two parameters (in the call's order) with the same string or number, if the request
    writes it only once. A number and a string that writes it (5 and "5") are one value."""
    seen: dict[Any, str] = {}
    for key, value in arguments.items():
        if isinstance(value, bool) or not isinstance(value, str | int | float) or value == "":
            continue
        if stated_twice(text, value):
            continue
        written = value if isinstance(value, str) else f"{value:g}"
        if written in seen:
            return seen[written], key
        seen[written] = key
    return None


def _echo(arguments: dict[str, Any], text: str) -> tuple[str] | None:
    """The first parameter whose value is a word of its own name (ground.echoes_name) or the verb the
    request opens with (ground.commands)."""
    return next(((key,) for key, value in arguments.items() if echoes_name(key, value) or commands(value, text)), None)


def _grounding(
    tool: dict[str, Any],
    text: str,
    avoid: dict[str, tuple[Any, ...]] | None = None,
    keep: dict[str, Any] | None = None,
    tight: bool = False,
) -> Callable[[dict[str, tuple[Any, ...]]], str | None]:
    """The grounded grammar of a call on `text`, as a function of the further values it must avoid;
    `tight`: free values bounded as toolcall.TIGHT bounds them, for a call that ran out of tokens."""
    base = avoid or {}
    bounds = {"max_items": toolcall.TIGHT["max_items"], "max_string": toolcall.TIGHT["max_string"]} if tight else {}

    def grammar_for(more: dict[str, tuple[Any, ...]]) -> str | None:
        barred = {k: (*base.get(k, ()), *more.get(k, ())) for k in base.keys() | more.keys()}
        return grounded_grammar(tool, text, avoid=barred, keep=keep, **bounds)

    return grammar_for


def _repeats_a_call(text: str) -> bool:
    """A small model that has made its call often makes it again, and again: stop at the first echo."""
    if not text.endswith(toolcall.CALL_CLOSE):
        return False
    calls = toolcall.parse_calls(text)
    return len(calls) > 1 and any(toolcall.echoes(calls[-1], c) for c in calls[:-1])


def _fresh(messages: list[dict[str, Any]]) -> bool:
    """True when the turn answers the user's own words, not a tool result."""
    return bool(messages) and messages[-1]["role"] == "user"


def load_llama(path: Path, name: str, kwargs: dict[str, Any]) -> Any:
    """llama_cpp.Llama, with the failures a user can act on named: llama-cpp-python compiles every
    chat template in the file while loading, so a template that is not valid Jinja fails the load."""
    import jinja2
    import llama_cpp

    kwargs = dict(kwargs)
    flash = kwargs.pop("flash_attn", None)
    try:
        return _with_sequences(llama_cpp.Llama(str(path), **kwargs, flash_attn=bool(flash), verbose=False), flash)
    except jinja2.TemplateError as e:
        raise TemplateError(f"the chat template of {name}", f"not a valid Jinja template: {e}") from None
    except ValueError as e:  # llama-cpp-python's "Failed to load model from file" / "Failed to create context"
        raise EdgeError(
            f"llama.cpp could not load {name}: {e}", "check it with `edgeagent models verify`", ExitCode.INTEGRITY
        ) from None


def _with_sequences(llm: Any, flash: bool | None) -> Any:
    """The context again, with ROUTER_SEQUENCES sequences over one KV cache of the same size (the router
    keeps tool descriptions and scores requests side by side in them; llama-cpp-python has no option for
    it), and flash attention left to llama.cpp when `flash` is None (AUTO, as llama-server and
    llama-bench decide it; llama-cpp-python can only say on or off). On the CPU AUTO turns it on:
    5-10% less time a call for SmolLM2-135M on 2 cores. The
    first context is freed before the second is made: one KV cache's memory at a time."""
    import contextlib

    import llama_cpp
    from llama_cpp import _internals

    llm.context_params.n_seq_max = ROUTER_SEQUENCES
    llm.context_params.kv_unified = True  # else each sequence gets n_ctx / n_seq_max cells
    if flash is None:
        llm.context_params.flash_attn_type = llama_cpp.LLAMA_FLASH_ATTN_TYPE_AUTO
    llm._ctx.close()
    llm._ctx = llm._stack.enter_context(
        contextlib.closing(_internals.LlamaContext(model=llm._model, params=llm.context_params, verbose=False))
    )
    return llm


def _plain_prompt(messages: list[dict[str, Any]]) -> str:
    return "".join(f"{m['role']}: {m.get('content') or ''}\n" for m in messages) + "assistant:"
