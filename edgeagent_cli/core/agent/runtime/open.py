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
    trust_template: bool = False  # run a template the static scan flags


def llama_kwargs(settings: Settings) -> dict[str, Any]:
    """llama_cpp.Llama arguments from the settings. A quantized V cache needs flash attention in
    llama.cpp, so unless it is asked for, only the K cache is quantized."""
    import llama_cpp

    kv = str(settings["kv_cache_type"])
    flash = settings["flash_attn"]  # None: llama.cpp decides (local.load_llama)
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
    info = on_info or (lambda _: None)
    info(f"loading {name}")
    runtime = LocalRuntime(
        path,
        llama_kwargs(settings),
        grammar=cfg.grammar,
        router=cfg.router,
        max_tokens=cfg.max_tokens,
        name=name,
        chat_template=template,
    )
    try:
        check_template(runtime.template, "--chat-template" if template else f"the chat template of {name}", cfg)
    except BaseException:
        runtime.close()
        raise
    for note in runtime.notes:
        info(note)
    return runtime


def check_template(source: str, where: str, cfg: RuntimeConfig | None = None) -> None:
    """A template the static scan flags runs only with --trust-template."""
    from edgeagent_cli.core.agent.runtime.template import TemplateError
    from edgeagent_cli.core.models.chat_template import scan

    flags = scan(source) if source else []
    if flags and not (cfg and cfg.trust_template):
        error = TemplateError(where, f"refused: it uses {', '.join(flags)}")
        error.hint = "read it with `edgeagent models show`; pass --trust-template to run it anyway"
        raise error


def preflight_template(path: Path, name: str, trust: bool) -> None:
    """Before another program renders a model's template (llama-cpp-python's server does, without a
    budget): the static scan, then one sample conversation rendered within our budget."""
    from edgeagent_cli.core.agent.runtime.template import ChatTemplate
    from edgeagent_cli.core.models import gguf

    source = gguf.read_file_header(path).get("tokenizer.chat_template")
    if not isinstance(source, str) or not source:
        return
    where = f"the chat template of {name}"
    check_template(source, where, RuntimeConfig(trust_template=trust))
    sample = [{"role": "system", "content": "You are helpful."}, {"role": "user", "content": "Hi"}]
    ChatTemplate(source, where, "</s>", "<s>").render(sample)
