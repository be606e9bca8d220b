"""Settings as commands use them: resolved once, and reported on stderr with --verbose."""

from __future__ import annotations

from typing import Any

from edgeagent_cli.cli.output import Output
from edgeagent_cli.core.hardware.machine import Machine
from edgeagent_cli.core.settings import Settings, resolve


def settings(
    out: Output,
    verbose: bool,
    profile: str | None,
    deployment: str | None = None,
    default_deployment: str | None = None,
    machine: Machine | None = None,
    **flags: Any,
) -> Settings:
    """flag > EDGEAGENT_* > profile > default, for the flags given (None: not given); against `machine`
    when planning for another one, else this one."""
    resolved = resolve(
        flags, profile=profile, deployment=deployment, default_deployment=default_deployment, machine=machine
    )
    if verbose:
        for line in resolved.lines():
            out.info(line)
    return resolved


def deployment_settings(out: Output, dep: Any, verbose: bool, profile: str | None, **flags: Any) -> Any:
    """The settings a deployment runs with: the deployment's `hardware:` is its device profile unless
    --profile says otherwise."""
    from edgeagent_cli.core import profiles
    from edgeagent_cli.core.settings import parse_size

    if profile is None and dep.hardware:
        known = {p.name for p in profiles.all_profiles() if p.kind == "device"}
        if dep.hardware in known:
            profile = dep.hardware
        else:
            out.info(f"note: hardware {dep.hardware!r} is not a device profile; using this machine's")
    if flags.get("max_memory"):
        flags["max_memory"] = parse_size(flags["max_memory"])
    return settings(out, verbose, profile, None, "development", **flags)
