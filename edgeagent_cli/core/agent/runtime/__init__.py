"""Runtimes behind one small interface (`base.Runtime`): in-process llama.cpp (`local`) or any
OpenAI-compatible server (`endpoint`); `open.open_runtime` picks one from the settings."""

from edgeagent_cli.core.agent.runtime.base import OnText, Reply, Runtime

__all__ = ["OnText", "Reply", "Runtime"]
