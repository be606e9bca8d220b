"""A lockfile of the stored models: enough to fetch the same bytes again on another machine."""

from __future__ import annotations

from dataclasses import dataclass

from edgeagent_cli.core.models.store import ModelRecord, Store
from edgeagent_cli.core.results import Result, Table


@dataclass
class LockEntry:
    name: str
    source: str | None
    repo: str | None
    revision: str | None
    file: str
    package: dict[str, object] | None
    sha256: str
    size_bytes: int
    quant: str | None

    @classmethod
    def of(cls, r: ModelRecord) -> LockEntry:
        src = r.source
        return cls(
            name=r.name,
            source=src.get("kind"),
            repo=src.get("repo"),
            revision=src.get("revision"),
            file=src.get("file", r.file),
            package=src.get("package"),
            sha256=r.sha256,
            size_bytes=r.size_bytes,
            quant=r.quant,
        )


@dataclass
class Lockfile(Result):
    models: list[LockEntry]

    def table(self) -> Table:
        rows = [[e.name, e.source, e.repo, e.revision, e.file, e.sha256, e.size_bytes] for e in self.models]
        return Table(["name", "source", "repo", "revision", "file", "sha256", "size_bytes"], rows)


def export_lock() -> Lockfile:
    return Lockfile([LockEntry.of(r) for r in Store().list()])
