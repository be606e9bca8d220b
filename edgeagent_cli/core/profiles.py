"""Device and deployment profiles: shipped in `profiles/*.yaml`, overridden from EDGEAGENT_HOME/profiles.

A device profile says how much of a machine a model may take (headroom, context, quant range,
threads, GPU layers) and which machines it suits (`match`). A deployment profile says how a served
model behaves (context, batch, parallel requests, KV cache type, prefix caching).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeagent_cli.core import paths
from edgeagent_cli.core.errors import EdgeError, ExitCode
from edgeagent_cli.core.models.fit import QUALITY
from edgeagent_cli.core.results import Result, Table
from edgeagent_cli.core.util.yaml_loader import DataFileError, Field, check, load

KV_TYPES = ("f32", "f16", "bf16", "q8_0", "q4_0", "q4_1", "iq4_nl", "q5_0", "q5_1")
QUANTS = tuple(QUALITY)  # every quant label the fit decision knows, lowest quality first

COMMON = {
    "name": Field((str,), required=True),
    "kind": Field((str,), required=True, choices=("device", "deployment")),
    "description": Field((str,)),
    "context": Field((int,), minimum=128),
    "batch": Field((int,), minimum=1),
    "kv_cache_type": Field((str,), choices=KV_TYPES),
    "flash_attn": Field((bool,)),
}
DEVICE = {
    **COMMON,
    "rank": Field((int,)),
    "match": Field((dict,)),
    "memory_headroom_mb": Field((int,), minimum=0),
    "quant_min": Field((str,), choices=QUANTS),
    "quant_max": Field((str,), choices=QUANTS),
    "threads": Field((int, str)),
    "gpu_layers": Field((int,), minimum=-1),
    "mlock": Field((bool,)),
}
MATCH = {
    "min_memory_gb": Field((float,), minimum=0),
    "min_vram_gb": Field((float,), minimum=0),
    "requires_gpu": Field((bool,)),
}
DEPLOYMENT = {
    **COMMON,
    "parallel": Field((int,), minimum=1),
    "prefix_caching": Field((bool,)),
    "gpu_memory_utilization": Field((float,), minimum=0.05),
    "tensor_parallel_size": Field((int,), minimum=1),
    "api_key_required": Field((bool,)),
}


@dataclass
class Profile:
    name: str
    kind: str
    path: Path
    data: dict[str, Any]
    shipped: bool

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)


def load_file(path: Path, shipped: bool = False) -> Profile:
    data, lines = load(path)
    if data is None:
        raise DataFileError(path, 1, None, "the file is empty")
    if not isinstance(data, dict):
        raise DataFileError(path, 1, None, "expected a mapping of profile fields")
    kind = data.get("kind")
    schema = DEVICE if kind == "device" else DEPLOYMENT if kind == "deployment" else COMMON
    check(data, schema, path, lines)
    if "match" in data:
        check(data["match"], MATCH, path, lines, "match")
    threads = data.get("threads")
    if isinstance(threads, str) and threads != "auto":
        raise DataFileError(path, lines.get("threads"), "threads", f"expected an integer or 'auto', got {threads!r}")
    return Profile(data["name"], str(kind), path, data, shipped)


def shipped_dir() -> Path:
    return paths.package_data("profiles")


def all_profiles() -> list[Profile]:
    """Shipped profiles, then the user's; a user profile with a shipped name replaces it."""
    found: dict[str, Profile] = {}
    for folder, shipped in ((shipped_dir(), True), (paths.user_profiles_dir(), False)):
        for path in sorted(folder.glob("*.yaml")) if folder.is_dir() else []:
            profile = load_file(path, shipped)
            found[profile.name] = profile
    return sorted(found.values(), key=lambda p: (p.kind, p.get("rank", 0), p.name))


def get(name_or_path: str, kind: str | None = None) -> Profile:
    if name_or_path.endswith((".yaml", ".yml")) or "/" in name_or_path:
        profile = load_file(Path(name_or_path).expanduser())
    else:
        matches = [p for p in all_profiles() if p.name == name_or_path]
        if not matches:
            names = ", ".join(p.name for p in all_profiles())
            raise EdgeError(f"no profile named {name_or_path!r}", f"known profiles: {names}", ExitCode.NOT_FOUND)
        profile = matches[0]
    if kind and profile.kind != kind:
        raise EdgeError(
            f"profile {profile.name!r} is a {profile.kind} profile, not a {kind} profile", code=ExitCode.USAGE
        )
    return profile


def matches(profile: Profile, memory_bytes: int, gpus: list[dict[str, Any]]) -> bool:
    rule = profile.get("match") or {}
    gib = 1024**3
    vram = max((g.get("vram_total_bytes") or 0 for g in gpus if g.get("vram_total_bytes")), default=0)
    if memory_bytes < rule.get("min_memory_gb", 0) * gib:
        return False
    if rule.get("requires_gpu") and not vram:
        return False
    return vram >= rule.get("min_vram_gb", 0) * gib


def pick_device(memory_bytes: int, gpus: list[dict[str, Any]]) -> Profile:
    """The highest-ranked device profile whose `match` this machine satisfies."""
    devices = [p for p in all_profiles() if p.kind == "device"]
    fitting = [p for p in devices if matches(p, memory_bytes, gpus)]
    if not fitting:
        raise EdgeError("no device profile matches this machine", "add one under EDGEAGENT_HOME/profiles")
    return max(fitting, key=lambda p: p.get("rank", 0))


@dataclass
class ProfileEntry:
    name: str
    kind: str
    path: str
    shipped: bool
    description: str | None


@dataclass
class ProfileListing(Result):
    profiles: list[ProfileEntry]

    def table(self) -> Table:
        return Table(
            ["name", "kind", "shipped", "description"],
            [[p.name, p.kind, p.shipped, p.description] for p in self.profiles],
        )


@dataclass
class ProfileShown(Result):
    name: str
    kind: str
    path: str
    profile: dict[str, Any]


def listing() -> ProfileListing:
    return ProfileListing(
        [ProfileEntry(p.name, p.kind, str(p.path), p.shipped, p.get("description")) for p in all_profiles()]
    )


def show(name_or_path: str) -> ProfileShown:
    p = get(name_or_path)
    return ProfileShown(p.name, p.kind, str(p.path), p.data)
