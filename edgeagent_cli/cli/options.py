"""Shared options, defined once so that a flag means the same thing everywhere."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]
VerboseOpt = Annotated[
    bool, typer.Option("--verbose", "-v", help="Say on stderr which value each setting has and where it came from.")
]
YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Answer yes to confirmations.")]
ProfileOpt = Annotated[
    str | None,
    typer.Option("--profile", help="Device profile name or YAML path (default: EDGEAGENT_PROFILE, else detected)."),
]
ModelArg = Annotated[str, typer.Argument(help="Stored model name or path to a .gguf file.")]
OptionalModelArg = Annotated[
    str | None,
    typer.Argument(help="Stored model name or path to a .gguf file (default: most recently pulled)."),
]
CtxOpt = Annotated[int | None, typer.Option("--ctx", "-c", min=1, help="Context length in tokens.")]
ThreadsOpt = Annotated[int | None, typer.Option("--threads", "-t", min=1, help="CPU threads.")]
GpuLayersOpt = Annotated[int | None, typer.Option("--gpu-layers", "-ngl", help="Layers to offload to the GPU.")]
EndpointOpt = Annotated[
    str | None,
    typer.Option("--endpoint", help="OpenAI-compatible base URL (Ollama, vLLM, llama-server, edgeagent serve)."),
]
ApiKeyOpt = Annotated[
    str | None, typer.Option("--api-key", envvar="EDGEAGENT_API_KEY", help="API key for the endpoint.")
]
MaxMemoryOpt = Annotated[str | None, typer.Option("--max-memory", help="Memory budget: 4GB, 3.5GiB, bytes.")]
ChatTemplateOpt = Annotated[
    Path | None, typer.Option("--chat-template", help="Jinja chat template file to use instead of the model's.")
]
TrustTemplateOpt = Annotated[
    bool, typer.Option("--trust-template", help="Run a chat template the static scan flags (see `models show`).")
]
GrammarOpt = Annotated[
    bool, typer.Option("--grammar/--no-grammar", help="Constrain tool calls with a grammar (in-process).")
]
RouterOpt = Annotated[
    bool,
    typer.Option("--router/--no-router", help="Choose the tool by scoring (small models without a tool template)."),
]
