"""What the store says about its models: import, list, show, verify, remove, each as a typed result."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeagent_cli.core.errors import EdgeError, ExitCode
from edgeagent_cli.core.models.store import ModelRecord, Store, inspect_gguf, resolve_model
from edgeagent_cli.core.results import Result, Table


@dataclass
class Imported(Result):
    model: ModelRecord
    warnings: list[str] = field(default_factory=list)


def template_warning(name: str, metadata: dict[str, Any]) -> str | None:
    """Said at import and pull: chat, eval and serve will refuse this template without --trust-template."""
    flags = metadata.get("template_flags") or []
    if not flags:
        return None
    return (
        f"the chat template of {name} uses {', '.join(flags)}: chat, eval and serve refuse it without --trust-template"
    )


@dataclass
class ModelList(Result):
    models: list[ModelRecord]

    def table(self) -> Table:
        rows = [
            [r.name, r.quant, r.architecture, r.total_bytes, r.sha256[:12], r.source.get("kind", "")]
            for r in self.models
        ]
        return Table(["name", "quant", "arch", "size_bytes", "sha256", "source"], rows)


@dataclass
class ModelInfo(Result):
    """A model's GGUF metadata, where it is, and what the catalog knows of it (license, tool calling)."""

    name: str
    path: str
    metadata: dict[str, Any]
    size_bytes: int
    sha256: str | None = None
    source: dict[str, Any] | None = None
    memory: list[dict[str, Any]] = field(default_factory=list)
    catalog: dict[str, Any] | None = None

    def fields(self) -> dict[str, Any]:
        doc = {**self.metadata, "name": self.name, "general_name": self.metadata.get("name"), "path": self.path}
        doc.update(size_bytes=self.size_bytes)
        if self.sha256 is not None:
            doc.update(sha256=self.sha256, source=self.source, memory=self.memory)
        doc["catalog"] = self.catalog
        return doc


@dataclass
class VerifyReport(Result):
    results: list[dict[str, Any]]
    ok: bool


@dataclass
class Removed(Result):
    removed: str


def import_model(path: Path, name: str | None = None, link: bool = False) -> Imported:
    rec = Store().add(path, name=name, link=link)
    warning = template_warning(rec.name, rec.metadata)
    return Imported(rec, [warning] if warning else [])


def list_models() -> ModelList:
    return ModelList(Store().list())


def catalog_facts(alias: str | None) -> dict[str, Any] | None:
    """The catalog's display name, license, gated flag and tool calling for a pulled alias."""
    from edgeagent_cli.core.models import catalog

    entry = catalog.entries().get(alias or "")
    if entry is None:
        return None
    return {k: entry.data.get(k) for k in ("alias", "display_name", "license", "gated", "tool_calling")}


def show(ref: str) -> ModelInfo:
    path, rec = resolve_model(ref)
    if rec is None:
        return ModelInfo(path.name, str(path), inspect_gguf(path), path.stat().st_size)
    facts = catalog_facts(rec.source.get("alias"))
    return ModelInfo(rec.name, str(path), rec.metadata, rec.total_bytes, rec.sha256, rec.source, rec.memory, facts)


def verify(names: list[str] | None) -> VerifyReport:
    """Re-hash models against their recorded sha256; an integrity error (exit 6) names every mismatch."""
    store = Store()
    records = [store.get(m) for m in names] if names else store.list()
    results = [store.verify(r) for r in records]
    bad = [r for r in results if not r["ok"]]
    report = VerifyReport(results, not bad)
    if bad:
        raise EdgeError(
            f"{len(bad)} model(s) failed verification: {', '.join(r['name'] for r in bad)}",
            "pull or import them again",
            ExitCode.INTEGRITY,
            data=report,
        )
    return report


def remove(name: str) -> Removed:
    return Removed(Store().remove(name).name)
