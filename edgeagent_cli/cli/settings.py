"""Settings as commands use them: resolved once, and reported on stderr with --verbose."""

from __future__ import annotations

from typing import Any

from edgeagent_cli.cli.output import Output
from edgeagent_cli.core.settings import Settings, resolve


def settings(
    out: Output,
    verbose: bool,
    profile: str | None,
    deployment: str | None = None,
    default_deployment: str | None = None,
    **flags: Any,
) -> Settings:
    """flag > EDGEAGENT_* > profile > default, for the flags given (None: not given)."""
    resolved = resolve(flags, profile=profile, deployment=deployment, default_deployment=default_deployment)
    if verbose:
        for line in resolved.lines():
            out.info(line)
    return resolved
