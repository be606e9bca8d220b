"""Shared options, defined once so that a flag means the same thing everywhere."""

from __future__ import annotations

from typing import Annotated

import typer

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]
YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Answer yes to confirmations.")]
ProfileOpt = Annotated[
    str | None,
    typer.Option("--profile", help="Device profile name or YAML path (default: detected)."),
]
ModelArg = Annotated[str, typer.Argument(help="Stored model name or path to a .gguf file.")]
OptionalModelArg = Annotated[
    str | None,
    typer.Argument(help="Stored model name or path to a .gguf file (default: most recently pulled)."),
]
CtxOpt = Annotated[int | None, typer.Option("--ctx", "-c", help="Context length in tokens.")]
ThreadsOpt = Annotated[int | None, typer.Option("--threads", "-t", help="CPU threads.")]
GpuLayersOpt = Annotated[int | None, typer.Option("--gpu-layers", "-ngl", help="Layers to offload to the GPU.")]
EndpointOpt = Annotated[
    str | None,
    typer.Option("--endpoint", help="OpenAI-compatible base URL (Ollama, vLLM, llama-server, edgeagent serve)."),
]
ApiKeyOpt = Annotated[
    str | None, typer.Option("--api-key", envvar="EDGEAGENT_API_KEY", help="API key for the endpoint.")
]
