"""Runtimes behind one small interface: a model turn with tools, in-process or over an endpoint.

`chat` and `eval` call `turn()` and never know whether llama.cpp runs in this process
(`local.LocalRuntime`) or behind an OpenAI-compatible server (`endpoint.EndpointRuntime`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from edgeagent_cli.core.toolcall import ToolCall

OnText = Callable[[str], None]


@dataclass
class Reply:
    """One model turn: a plain answer, or tool calls (already parsed and type-coerced)."""

    content: str
    calls: list[ToolCall] = field(default_factory=list)
    raw: str = ""
    finish: str = "stop"  # stop | length | error
    prompt_tokens: int = 0
    completion_tokens: int = 0
    model_seconds: float = 0.0
    model: str = ""
    route: dict[str, Any] | None = None
    malformed: str | None = None  # the model tried to call a tool and the text did not parse


class Runtime(Protocol):
    name: str

    def turn(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]], tool_choice: str = "auto",
             on_text: OnText | None = None) -> Reply: ...  # fmt: skip

    def close(self) -> None: ...


def open_runtime(model: str | None, endpoint: str | None = None, api_key: str | None = None, *, grammar: bool = True,
                 router: bool = True, max_tokens: int = 512, ctx: int | None = None, threads: int | None = None,
                 gpu_layers: int | None = None, chat_template: Path | None = None,
                 on_info: Callable[[str], None] | None = None) -> Runtime:  # fmt: skip
    """The endpoint if one is given, else MODEL (a stored name or a .gguf path; none: the latest pulled)
    loaded in-process with the machine's recommended threads, GPU layers and context."""
    from edgeagent_cli.errors import EdgeError, ExitCode

    if endpoint:
        from edgeagent_cli.core.runtime.endpoint import EndpointRuntime

        return EndpointRuntime(endpoint, api_key, model, max_tokens=max_tokens)
    template = None
    if chat_template is not None:
        if not chat_template.is_file():
            raise EdgeError(f"no such chat template: {chat_template}", code=ExitCode.NOT_FOUND)
        template = chat_template.read_text(encoding="utf-8")
    from edgeagent_cli.core import survey
    from edgeagent_cli.core.runtime.local import LocalRuntime
    from edgeagent_cli.core.store import Store, resolve_model

    store = Store()
    if model:
        path, rec = resolve_model(model, store)
    else:
        rec = store.latest()
        path = Path(rec.path)
    hw = survey.survey()["recommendation"]
    name = rec.name if rec else path.name
    if on_info:
        on_info(f"loading {name}")
    return LocalRuntime(path, n_ctx=ctx or min(int(hw.get("context") or 4096), 8192), threads=threads or hw["threads"],
                        gpu_layers=survey.gpu_layers(hw, gpu_layers), grammar=grammar, router=router,
                        max_tokens=max_tokens, name=name, chat_template=template)  # fmt: skip
