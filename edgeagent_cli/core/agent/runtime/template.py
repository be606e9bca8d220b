"""Render a chat template within a budget: time, output size and memory, in a Jinja sandbox.

llama-cpp-python renders templates in an unbounded ImmutableSandboxedEnvironment; a template with
nested loops (`range` is capped per loop, loops nest) or `'x' * 400000000` then runs until killed.
Here rendering is streamed (`generate`), so output is counted as it comes; arithmetic that builds
strings or lists is checked before it runs; and on the main thread an interval timer stops a loop
that yields nothing once the time or memory budget is spent. Every failure is a TemplateError:
one line naming the model and what the template did, exit 2.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from edgeagent_cli.core.errors import EdgeError, ExitCode

SECONDS = 3.0  # real chat templates render in milliseconds
MAX_OUTPUT_CHARS = 2_000_000  # a prompt far longer than any context a small model runs with
MAX_VALUE_ITEMS = 1_000_000  # a string or list built by * or + in a template
MAX_RSS_GROWTH = 200 * 1024 * 1024
TICK = 0.05
TRACE_EVERY = 2000  # trace events between checks off the main thread (a few hundred microseconds)


class TemplateError(EdgeError):
    def __init__(self, where: str, problem: str) -> None:
        hint = "fix the template file" if where == "--chat-template" else "pass --chat-template FILE to use another"
        super().__init__(f"{where}: {problem}", hint, ExitCode.USAGE)


class _OverBudget(Exception):
    pass


def _environment() -> Any:
    import jinja2
    import jinja2.ext
    from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

    class Budgeted(ImmutableSandboxedEnvironment):
        intercepted_binops = frozenset({"*", "+", "**"})

        def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
            if operator == "**" and isinstance(right, int | float) and abs(right) > 64:
                raise SecurityError(f"exponent {right} is too large")
            if operator == "*" and _size(left, right) > MAX_VALUE_ITEMS:
                raise SecurityError("a string or list multiplied past a million items")
            if operator == "+" and _length(left) + _length(right) > MAX_VALUE_ITEMS:
                raise SecurityError("a string or list grown past a million items")
            return super().call_binop(context, operator, left, right)

    class IgnoreGenerationTags(jinja2.ext.Extension):
        """Hugging Face's `{% generation %}` tag, as llama-cpp-python and Transformers accept it."""

        tags = {"generation"}

        def parse(self, parser: Any) -> Any:
            parser.stream.skip(1)
            return parser.parse_statements(("name:endgeneration",), drop_needle=True)

    env = Budgeted(
        loader=jinja2.BaseLoader(),
        trim_blocks=True,
        lstrip_blocks=True,
        extensions=[IgnoreGenerationTags, jinja2.ext.loopcontrols],
    )
    env.filters["tojson"] = _tojson
    return env


def _length(x: Any) -> int:
    return len(x) if isinstance(x, str | list | tuple | bytes) else 0


def _size(left: Any, right: Any) -> int:
    for seq, n in ((left, right), (right, left)):
        if isinstance(seq, str | list | tuple | bytes) and isinstance(n, int):
            return len(seq) * n
    return 0


def _tojson(
    x: Any, ensure_ascii: bool = False, indent: int | None = None, separators: Any = None, sort_keys: bool = False
) -> str:
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def _raise_exception(message: str) -> None:
    raise ValueError(message)


class ChatTemplate:
    """A model's chat template, compiled once and rendered within the budget for every turn."""

    def __init__(self, source: str, where: str, eos_token: str, bos_token: str) -> None:
        import jinja2

        self.where = where
        self.eos_token = eos_token
        self.bos_token = bos_token
        try:
            self._template = _environment().from_string(source)
        except jinja2.TemplateError as e:
            raise TemplateError(where, f"not a valid Jinja template: {e}") from e

    def render(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None = None) -> str:
        from jinja2 import TemplateError as JinjaError

        context = {
            "messages": messages,
            "eos_token": self.eos_token,
            "bos_token": self.bos_token,
            "raise_exception": _raise_exception,
            "add_generation_prompt": True,
            "strftime_now": lambda f: datetime.now().strftime(f),
        }
        if tools:
            context["tools"] = tools
        pieces: list[str] = []
        total = 0
        try:
            with _budget(SECONDS) as expired:
                for piece in self._template.generate(**context):
                    pieces.append(piece)
                    total += len(piece)
                    if total > MAX_OUTPUT_CHARS:
                        raise _OverBudget(f"it wrote over {MAX_OUTPUT_CHARS:,} characters")
                    if expired():
                        raise _OverBudget(f"it ran over {SECONDS:.0f} s")
        except _OverBudget as e:
            raise TemplateError(self.where, f"rendering stopped: {e}") from None
        except JinjaError as e:  # SecurityError included: the sandbox refused something
            raise TemplateError(self.where, f"{type(e).__name__}: {e}") from None
        except (ValueError, TypeError, KeyError, IndexError, AttributeError, ZeroDivisionError, RecursionError) as e:
            raise TemplateError(self.where, f"the template failed: {type(e).__name__}: {e}") from None
        return "".join(pieces)


@contextmanager
def _budget(seconds: float) -> Iterator[Any]:
    """Yields a check of the deadline, and interrupts a template busy in a loop that writes nothing,
    or one whose memory grows past MAX_RSS_GROWTH: on the main thread with an interval timer; on
    any other thread (a server's worker) with a trace function, slower but just as sure."""
    deadline = time.monotonic() + seconds

    def expired() -> bool:
        return time.monotonic() > deadline

    rss = _rss_reader()
    base = rss()

    def check() -> None:
        if expired():
            raise _OverBudget(f"it ran over {seconds:.0f} s")
        if rss() - base > MAX_RSS_GROWTH:
            raise _OverBudget(f"its memory grew past {MAX_RSS_GROWTH // 2**20} MiB")

    if threading.current_thread() is threading.main_thread() and hasattr(signal, "setitimer"):
        previous = signal.signal(signal.SIGALRM, lambda signum, frame: check())
        signal.setitimer(signal.ITIMER_REAL, TICK, TICK)
        try:
            yield expired
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
        return
    events = 0

    def tracer(frame: Any, event: str, arg: Any) -> Any:
        nonlocal events
        events += 1
        if events % TRACE_EVERY == 0:
            check()
        return tracer

    previous_trace = sys.gettrace()
    sys.settrace(tracer)  # this thread only
    try:
        yield expired
    finally:
        sys.settrace(previous_trace)


def _rss_reader() -> Any:
    import psutil

    process = psutil.Process()
    return lambda: process.memory_info().rss
