"""One settings resolver for every command: flag > `EDGEAGENT_*` variable > profile > default.

Profiles: the deployment profile (serve's `--deployment`) is asked before the device profile
(`--profile`, else `EDGEAGENT_PROFILE`, else the one that matches this machine). Every value keeps
where it came from, so `--verbose` and `--json` can say "threads=2 from profile desktop".
Some values then meet the machine: `threads: auto` is the physical core count, and GPU layers are 0
where this llama.cpp build or this machine cannot offload.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from edgeagent_cli.core.errors import EdgeError, ExitCode
from edgeagent_cli.core.hardware.machine import Machine, memory_budget
from edgeagent_cli.core.profiles import KV_TYPES, Profile

UNITS = {
    "": 1,
    "b": 1,
    "k": 1000,
    "kb": 1000,
    "m": 1000**2,
    "mb": 1000**2,
    "g": 1000**3,
    "gb": 1000**3,
    "t": 1000**4,
    "tb": 1000**4,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
    "tib": 1024**4,
}


def parse_size(text: str) -> int:
    """`4GB`, `3.5GiB`, `512MiB`, `1000000` -> bytes (GB is decimal, GiB binary, as `hf` and `df -H` do)."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([a-zA-Z]*)\s*", text)
    if not m or m.group(2).lower() not in UNITS:
        raise EdgeError(f"invalid size {text!r}", "use e.g. 4GB, 3.5GiB, 512MiB or a number of bytes", ExitCode.USAGE)
    return int(float(m.group(1)) * UNITS[m.group(2).lower()])


def _bool(text: str) -> bool:
    value = text.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ValueError(f"expected true or false, got {text!r}")


def _kv_type(text: str) -> str:
    if text not in KV_TYPES:
        raise ValueError(f"expected one of {', '.join(KV_TYPES)}, got {text!r}")
    return text


@dataclass(frozen=True)
class Spec:
    """A setting: its variable, how to read the variable, its profile field, its default and its flag."""

    env: str
    parse: Callable[[str], Any]
    profile_field: str | None
    default: Any = None
    flag: str = ""


SPECS: dict[str, Spec] = {
    "context": Spec("EDGEAGENT_CTX", int, "context", 4096, "--ctx"),
    "threads": Spec("EDGEAGENT_THREADS", int, "threads", "auto", "--threads"),
    "gpu_layers": Spec("EDGEAGENT_GPU_LAYERS", int, "gpu_layers", 0, "--gpu-layers"),
    "batch": Spec("EDGEAGENT_BATCH", int, "batch", 512, "--batch"),
    "kv_cache_type": Spec("EDGEAGENT_KV_CACHE_TYPE", _kv_type, "kv_cache_type", "f16", "--kv-cache-type"),
    # None: llama.cpp decides (auto), as llama-bench's default
    "flash_attn": Spec("EDGEAGENT_FLASH_ATTN", _bool, "flash_attn", None, "--flash-attn"),
    "mlock": Spec("EDGEAGENT_MLOCK", _bool, "mlock", False, "--mlock"),
    "max_memory": Spec("EDGEAGENT_MAX_MEMORY", parse_size, None, None, "--max-memory"),
    "parallel": Spec("EDGEAGENT_PARALLEL", int, "parallel", 1, "--parallel"),
    "api_key_required": Spec("EDGEAGENT_API_KEY_REQUIRED", _bool, "api_key_required", False, "--api-key-required"),
}
ALL_GPU_LAYERS = 99  # a profile's -1 ("every layer"): more layers than any small model has


@dataclass(frozen=True)
class Value:
    value: Any
    source: str


@dataclass
class Settings:
    """Resolved values with their sources, the profiles they came from, and the machine."""

    values: dict[str, Value]
    device: Profile
    device_source: str
    deployment: Profile | None
    machine: Machine

    def __getitem__(self, key: str) -> Any:
        return self.values[key].value

    def source(self, key: str) -> str:
        return self.values[key].source

    def budget(self) -> tuple[int, str]:
        """Bytes a model may take, and why: --max-memory, else free memory minus the profile's headroom."""
        if self["max_memory"] is not None:
            return int(self["max_memory"]), self.source("max_memory")
        b = memory_budget(self.device, self.machine.memory, self.machine.gpus, self.machine.offload)
        return b["bytes"], f"{b['source']} minus profile {self.device.name}'s headroom"

    def quant_range(self) -> tuple[str | None, str | None]:
        return self.device.get("quant_min"), self.device.get("quant_max")

    def to_dict(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"profile": {"name": self.device.name, "source": self.device_source}}
        if self.deployment is not None:
            doc["deployment"] = {"name": self.deployment.name}
        doc.update({k: {"value": v.value, "source": v.source} for k, v in self.values.items()})
        return doc

    def lines(self) -> list[str]:
        """`threads=2 from profile desktop`, one per value, for --verbose."""
        head = [f"profile={self.device.name} from {self.device_source}"]
        if self.deployment is not None:
            head.append(f"deployment={self.deployment.name}")
        return head + [f"{k}={v.value} from {v.source}" for k, v in self.values.items()]


def _from_env(key: str, spec: Spec) -> Value | None:
    raw = os.environ.get(spec.env)
    if raw is None or raw.strip() == "":
        return None
    try:
        return Value(spec.parse(raw), spec.env)
    except (ValueError, EdgeError) as e:
        detail = e.message if isinstance(e, EdgeError) else str(e)
        raise EdgeError(f"{spec.env}={raw!r}: {detail}", f"fix or unset {spec.env}", ExitCode.USAGE) from e


def _one(key: str, flag: Any, profiles: list[Profile]) -> Value:
    spec = SPECS[key]
    if flag is not None:
        if isinstance(flag, str) and spec.parse is _kv_type:
            try:
                _kv_type(flag)
            except ValueError as e:
                raise EdgeError(f"{spec.flag} {flag}: {e}", code=ExitCode.USAGE) from None
        return Value(flag, spec.flag)
    env = _from_env(key, spec)
    if env is not None:
        return env
    for p in profiles:
        if spec.profile_field and spec.profile_field in p.data:
            return Value(p.data[spec.profile_field], f"profile {p.name}")
    return Value(spec.default, "default")


def _meet_machine(values: dict[str, Value], machine: Machine) -> None:
    threads = values["threads"]
    if threads.value == "auto":
        values["threads"] = Value(machine.threads, f"{threads.source} (auto: physical cores)")
    layers = values["gpu_layers"]
    if layers.source.startswith("--") or layers.source.startswith("EDGEAGENT"):
        return  # asked for explicitly: llama.cpp is told what the user said
    if layers.value and not (machine.offload and machine.gpus):
        values["gpu_layers"] = Value(0, f"{layers.source} (no GPU offload here)")
    elif layers.value == -1:
        values["gpu_layers"] = Value(ALL_GPU_LAYERS, f"{layers.source} (every layer)")


def device_profile(name: str | None, machine: Machine) -> tuple[Profile, str]:
    """--profile, else EDGEAGENT_PROFILE, else the highest-ranked profile this machine matches."""
    from edgeagent_cli.core import profiles

    if name:
        return profiles.get(name, "device"), "--profile"
    env = os.environ.get("EDGEAGENT_PROFILE")
    if env:
        return profiles.get(env, "device"), "EDGEAGENT_PROFILE"
    return profiles.pick_device(machine.memory["total_bytes"], machine.gpus), "detected"


def resolve(
    flags: Mapping[str, Any] | None = None,
    *,
    profile: str | None = None,
    deployment: str | None = None,
    machine: Machine | None = None,
    default_deployment: str | None = None,
) -> Settings:
    """Every setting in SPECS, from the flags given (None: not given) down to the defaults."""
    from edgeagent_cli.core import profiles
    from edgeagent_cli.core.hardware.machine import probe_machine

    flags = dict(flags or {})
    unknown = set(flags) - SPECS.keys()
    if unknown:
        raise ValueError(f"unknown settings: {', '.join(sorted(unknown))}")
    machine = machine or probe_machine()
    device, device_source = device_profile(profile, machine)
    deploy_name = deployment or os.environ.get("EDGEAGENT_DEPLOYMENT") or default_deployment
    deploy = profiles.get(deploy_name, "deployment") if deploy_name else None
    chain = [p for p in (deploy, device) if p is not None]
    values = {key: _one(key, flags.get(key), chain) for key in SPECS}
    _meet_machine(values, machine)
    return Settings(values, device, device_source, deploy, machine)
