"""The model catalog: aliases -> Hugging Face repos, known files, architecture numbers, package sources.

Shipped in `edgeagent_cli/data/catalog.yaml`; `EDGEAGENT_HOME/catalog.yaml` (or EDGEAGENT_CATALOG)
adds entries or overrides shipped ones by alias. Both go through the same validating loader.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeagent_cli.core import paths
from edgeagent_cli.core.errors import EdgeError, ExitCode
from edgeagent_cli.core.util.yaml_loader import DataFileError, Field, check, load

ENTRY = {
    "alias": Field((str,), required=True),
    "display_name": Field((str,)),
    "hf_repo": Field((str,), required=True),
    "revision": Field((str,)),
    "files": Field((dict,)),
    "arch": Field((dict,)),
    "tool_calling": Field((bool, type(None))),
    "license": Field((str, type(None))),
    "gated": Field((bool,)),
    "package": Field((dict,)),
    "default_source": Field((str,), choices=("hf", "package")),
}
FILE = {
    "file": Field((str,), required=True),
    "size_bytes": Field((int,)),
    "size_display": Field((str,)),
    "sha256": Field((str,)),
}
ARCH = {
    k: Field((int,))
    for k in (
        "n_layers",
        "n_heads",
        "n_kv_heads",
        "head_dim",
        "hidden_size",
        "context_length",
        "vocab_size",
        "sliding_window",
        "swa_layers",
    )
}
# One wheel (name, version, member), or a model too big for one: `parts`, wheels whose members join in order.
PACKAGE = {
    "name": Field((str,)), "version": Field((str,)), "member": Field((str,)), "parts": Field((list,)),
    "file": Field((str,), required=True), "quant": Field((str,), required=True),
    "size_bytes": Field((int,)), "sha256": Field((str,), required=True),
}  # fmt: skip
PART = {"name": Field((str,), required=True), "version": Field((str,), required=True),
        "member": Field((str,), required=True)}  # fmt: skip


@dataclass
class Entry:
    alias: str
    data: dict[str, Any]

    @property
    def repo(self) -> str:
        return str(self.data["hf_repo"])

    @property
    def arch(self) -> dict[str, Any]:
        return dict(self.data.get("arch") or {})

    @property
    def package(self) -> dict[str, Any] | None:
        return self.data.get("package")

    def known_file(self, quant: str) -> dict[str, Any] | None:
        return (self.data.get("files") or {}).get(quant)


def _load_file(path: Path) -> list[Entry]:
    data, lines = load(path)
    if not isinstance(data, dict) or not isinstance(data.get("models"), list):
        raise DataFileError(path, 1, "models", "expected a list of catalog entries under 'models'")
    entries = []
    for i, raw in enumerate(data["models"]):
        prefix = f"models[{i}]"
        check(raw, ENTRY, path, lines, prefix)
        for quant, f in (raw.get("files") or {}).items():
            check(f, FILE, path, lines, f"{prefix}.files.{quant}")
        check(raw.get("arch") or {}, ARCH, path, lines, f"{prefix}.arch")
        if raw.get("package"):
            pkg = raw["package"]
            check(pkg, PACKAGE, path, lines, f"{prefix}.package")
            for n, part in enumerate(pkg.get("parts") or []):
                check(part, PART, path, lines, f"{prefix}.package.parts[{n}]")
            if not pkg.get("parts") and not all(pkg.get(k) for k in ("name", "version", "member")):
                where = lines.get(f"{prefix}.package")
                raise DataFileError(path, where, f"{prefix}.package", "needs name, version and member, or parts")
        entries.append(Entry(raw["alias"], raw))
    return entries


def user_catalog_path() -> Path:
    return Path(os.environ.get("EDGEAGENT_CATALOG") or paths.home() / "catalog.yaml")


def entries() -> dict[str, Entry]:
    found = {e.alias: e for e in _load_file(paths.package_data("data") / "catalog.yaml")}
    user = user_catalog_path()
    if user.is_file():
        found.update({e.alias: e for e in _load_file(user)})
    return found


@dataclass
class ModelRef:
    """What `pull MODEL` names: a catalog entry, or any Hugging Face repo (`hf:OWNER/REPO[:QUANT]`)."""

    repo: str
    alias: str
    quant: str | None
    entry: Entry | None


def parse_ref(ref: str) -> ModelRef:
    if ref.startswith("hf:"):
        m = re.fullmatch(r"hf:([\w.-]+/[\w.-]+)(?::([\w.-]+))?", ref)
        if not m:
            raise EdgeError(
                f"invalid model reference {ref!r}", "use hf:OWNER/REPO or hf:OWNER/REPO:QUANT", ExitCode.USAGE
            )
        repo = m.group(1)
        alias = re.sub(r"(?i)-gguf$", "", repo.split("/")[1]).lower()
        return ModelRef(repo, alias, m.group(2).upper() if m.group(2) else None, None)
    alias, _, quant = ref.partition(":")
    entry = entries().get(alias.lower())
    if entry is None:
        known = ", ".join(sorted(entries()))
        raise EdgeError(f"unknown model {alias!r}", f"catalog aliases: {known}; or hf:OWNER/REPO", ExitCode.NOT_FOUND)
    return ModelRef(entry.repo, entry.alias, quant.upper() or None, entry)
