"""Open the runtime a command asked for: an endpoint, or a stored model loaded in-process with the
resolved settings (context, threads, GPU layers, batch, KV cache type, flash attention, mlock)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeagent_cli.core.agent.runtime.base import Runtime
from edgeagent_cli.core.errors import EdgeError, ExitCode
from edgeagent_cli.core.settings import Settings

# A chat or an eval holds one conversation: more context than this only costs memory and load time.
MAX_LOCAL_CONTEXT = 8192


@dataclass
class RuntimeConfig:
    model: str | None = None  # a stored name or a .gguf path (in-process), or the endpoint's model id
    endpoint: str | None = None
    api_key: str | None = None
    grammar: bool = True
    router: bool = True
    max_tokens: int = 512
    chat_template: Path | None = None


def llama_kwargs(settings: Settings) -> dict[str, Any]:
    """llama_cpp.Llama arguments from the settings. A quantized V cache needs flash attention in
    llama.cpp, so without it only the K cache is quantized."""
    import llama_cpp

    kv = str(settings["kv_cache_type"])
    flash = bool(settings["flash_attn"])
    kwargs: dict[str, Any] = {
        "n_ctx": min(int(settings["context"]), MAX_LOCAL_CONTEXT),
        "n_threads": int(settings["threads"]),
        "n_gpu_layers": int(settings["gpu_layers"]),
        "n_batch": int(settings["batch"]),
        "use_mlock": bool(settings["mlock"]),
        "flash_attn": flash,
    }
    if kv != "f16":
        kind = getattr(llama_cpp, f"GGML_TYPE_{kv.upper()}")
        kwargs["type_k"] = kind
        if flash:
            kwargs["type_v"] = kind
    return kwargs


def open_runtime(cfg: RuntimeConfig, settings: Settings, on_info: Callable[[str], None] | None = None) -> Runtime:
    """The endpoint if one is given, else the model (none: the latest pulled) loaded in-process."""
    if cfg.endpoint:
        from edgeagent_cli.core.agent.runtime.endpoint import EndpointRuntime

        return EndpointRuntime(cfg.endpoint, cfg.api_key, cfg.model, max_tokens=cfg.max_tokens)
    template = None
    if cfg.chat_template is not None:
        if not cfg.chat_template.is_file():
            raise EdgeError(f"no such chat template: {cfg.chat_template}", code=ExitCode.NOT_FOUND)
        template = cfg.chat_template.read_text(encoding="utf-8")
    from edgeagent_cli.core.agent.runtime.local import LocalRuntime
    from edgeagent_cli.core.models.store import resolve_model

    path, rec = resolve_model(cfg.model)
    name = rec.name if rec else path.name
    if on_info:
        on_info(f"loading {name}")
    return LocalRuntime(
        path,
        llama_kwargs(settings),
        grammar=cfg.grammar,
        router=cfg.router,
        max_tokens=cfg.max_tokens,
        name=name,
        chat_template=template,
    )
