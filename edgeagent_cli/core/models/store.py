"""The local model store under EDGEAGENT_HOME/models.

Layout: `models/<name>/<file>.gguf` per model and `models/index.json`, the registry. Every write
goes to a temp file and is renamed into place, under an exclusive lock on `models/.lock`, so two
processes never corrupt the store and a crash never leaves a half-written model registered.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from edgeagent_cli.core import paths
from edgeagent_cli.core.errors import EdgeError, ExitCode, integrity, not_found
from edgeagent_cli.core.models import gguf
from edgeagent_cli.core.util.files import atomic_write_text, file_lock, safe_name
from edgeagent_cli.core.util.hashing import copy_hashing, sha256_file

INDEX = "index.json"


@dataclass
class ModelRecord:
    name: str
    path: str
    file: str
    size_bytes: int
    sha256: str
    quant: str | None
    architecture: str | None
    linked: bool = False
    added_at: float = 0.0
    source: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    memory: list[dict[str, Any]] = field(default_factory=list)
    # a split GGUF: parts 2..N beside the first (`path`), each {file, sha256, size_bytes}; llama.cpp
    # loads the first and finds the others by name in the same folder
    parts: list[dict[str, Any]] = field(default_factory=list)

    @property
    def total_bytes(self) -> int:
        return self.size_bytes + sum(int(p["size_bytes"]) for p in self.parts)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:+-]{0,127}")


def _damaged(index: Path, why: str) -> EdgeError:
    return EdgeError(
        f"the store index {index} is unreadable: {why}",
        "restore it from a backup, or move it away and import the models again",
    )


def dir_key(name: str) -> str:
    """The directory a model's file lives in. Names that differ only in characters a file name cannot
    hold (`x:1`, `x--1`) or in case (`X:1`) would share it, so such a second name is refused."""
    return safe_name(name).lower()


def _refuse_collision(records: dict[str, ModelRecord], name: str) -> None:
    for other in records.values():
        if other.name != name and dir_key(other.name) == dir_key(name):
            raise EdgeError(
                f"model name {name!r} is too close to the stored {other.name!r}",
                "they would share a directory; choose another --name",
                ExitCode.USAGE,
            )


def default_name(path: Path) -> str:
    return path.name[: -len(".gguf")].lower() if path.name.lower().endswith(".gguf") else path.name.lower()


def inspect_gguf(path: Path) -> dict[str, Any]:
    """The GGUF summary of a file, or an integrity error naming the file (exit 6)."""
    try:
        return gguf.read_file_header(path).summary()
    except gguf.GGUFError as e:
        raise integrity(f"{path}: {e}", "the file is not a complete GGUF model; download it again") from e


class Store:
    def __init__(self, root: Path | None = None) -> None:
        self.root = root or paths.models_dir()

    @property
    def index_path(self) -> Path:
        return self.root / INDEX

    def lock(self) -> contextlib.AbstractContextManager[None]:
        return file_lock(self.root / ".lock")

    # --- reading -----------------------------------------------------------------------------
    def _load(self) -> dict[str, ModelRecord]:
        try:
            raw = json.loads(self.index_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as e:
            raise _damaged(self.index_path, str(e)) from e
        models = raw.get("models") if isinstance(raw, dict) else None
        if not isinstance(models, dict):
            raise _damaged(self.index_path, "it does not hold a mapping of models")
        try:
            return {name: ModelRecord(**rec) for name, rec in models.items()}
        except TypeError as e:  # a record that is not a mapping, or lacks or adds fields
            raise _damaged(self.index_path, f"a record is malformed ({e})") from e

    def _save(self, records: dict[str, ModelRecord]) -> None:
        doc = {"version": 1, "models": {n: r.to_dict() for n, r in sorted(records.items())}}
        atomic_write_text(self.index_path, json.dumps(doc, indent=2))

    def list(self) -> list[ModelRecord]:
        return sorted(self._load().values(), key=lambda r: r.name)

    def find(self, name: str) -> ModelRecord | None:
        records = self._load()
        key = name.lower()
        for rec in records.values():
            if rec.name.lower() == key:
                return rec
        # `smollm2-135m` finds `smollm2-135m:Q4_1` when that is the only (or newest) variant.
        prefixed = [r for r in records.values() if r.name.lower().startswith(key + ":")]
        return max(prefixed, key=lambda r: r.added_at) if prefixed else None

    def get(self, name: str) -> ModelRecord:
        rec = self.find(name)
        if rec is None:
            raise not_found(f"no model named {name!r} in the store", "see `edgeagent models ls`, or `edgeagent pull`")
        return rec

    def latest(self) -> ModelRecord:
        records = self.list()
        if not records:
            raise not_found("the model store is empty", "pull one first: `edgeagent pull smollm2-135m`")
        return max(records, key=lambda r: r.added_at)

    # --- writing -----------------------------------------------------------------------------
    def add(
        self,
        src: Path,
        name: str | None = None,
        link: bool = False,
        move: bool = False,
        source: dict[str, Any] | None = None,
        expected_sha256: str | None = None,
        progress: Callable[[int], None] | None = None,
        known_sha256: str | None = None,
        parts: Sequence[tuple[Path, str]] | None = None,
    ) -> ModelRecord:
        """Check, hash and register a GGUF file. Nothing is registered unless all of it is whole.
        `known_sha256`: a file we just wrote under EDGEAGENT_HOME and hashed while writing (moved in,
        not read again). `parts`: the other parts of a split model, already hashed, moved in beside it."""
        src = src.expanduser()
        if not src.is_file():
            raise not_found(f"no such file: {src}")
        name = name or default_name(src)
        if not NAME.fullmatch(name):
            hint = "use at most 128 letters, digits and . _ - : +, starting with a letter or digit"
            raise EdgeError(f"invalid model name {name[:80]!r}", hint, ExitCode.USAGE)
        meta = inspect_gguf(src)
        _refuse_collision(self._load(), name)
        self.root.mkdir(parents=True, exist_ok=True)
        if link:
            target, digest = src.resolve(), sha256_file(src, progress)
        else:
            target, digest = self._copy_in(src, name, move, progress, known_sha256 if move else None)
        try:
            extra = self._move_parts(parts or [], target.parent) if parts and move and not link else []
            return self._register(src, name, target, digest, meta, link, source, expected_sha256, extra)
        except BaseException:
            if not link and target.exists() and not any(r.path == str(target) for r in self.list()):
                self._remove_files_at(target)  # nothing unregistered stays behind
            raise

    def _register(
        self,
        src: Path,
        name: str,
        target: Path,
        digest: str,
        meta: dict[str, Any],
        link: bool,
        source: dict[str, Any] | None,
        expected_sha256: str | None,
        parts: Sequence[dict[str, Any]] | None = None,
    ) -> ModelRecord:
        if expected_sha256 and digest != expected_sha256.lower():
            raise integrity(
                f"sha256 mismatch for {src.name}: expected {expected_sha256}, got {digest}",
                "the download was corrupted; pull again",
            )
        rec = ModelRecord(
            name=name,
            path=str(target),
            file=src.name,
            size_bytes=target.stat().st_size,
            sha256=digest,
            quant=meta.get("file_type"),
            architecture=meta.get("architecture"),
            linked=link,
            added_at=time.time(),
            source=source or {"kind": "import", "path": str(src.resolve())},
            metadata=meta,
            parts=[*(parts or [])],
        )
        with self.lock():
            records = self._load()
            _refuse_collision(records, name)
            old = records.get(name)
            records[name] = rec
            self._save(records)
        if old and not old.linked and old.path != rec.path:
            self._remove_files(old)
        return rec

    @staticmethod
    def _move_parts(parts: Sequence[tuple[Path, str]], folder: Path) -> Sequence[dict[str, Any]]:
        moved = []
        for path, sha in parts:
            target = folder / path.name
            shutil.move(str(path), target)
            moved.append({"file": path.name, "sha256": sha, "size_bytes": target.stat().st_size})
        return moved

    def _copy_in(
        self, src: Path, name: str, move: bool, progress: Callable[[int], None] | None, known: str | None = None
    ) -> tuple[Path, str]:
        final_dir = self.root / dir_key(name)
        final_dir.mkdir(parents=True, exist_ok=True)
        target = final_dir / src.name
        if move:  # a finished download under EDGEAGENT_HOME: hash it where it is (unless done), then rename
            digest = known or sha256_file(src, progress)
            try:
                os.replace(src, target)
                return target, digest
            except OSError:
                pass  # another filesystem: copy below
        fd, tmp_name = tempfile.mkstemp(dir=final_dir, prefix=".import-", suffix=".tmp")
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as out, src.open("rb") as f:
                digest = copy_hashing(f, out, progress)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise
        if move:
            with contextlib.suppress(OSError):
                src.unlink()
        return target, digest

    def update(self, name: str, mutate: Callable[[ModelRecord], None]) -> None:
        with self.lock():
            records = self._load()
            if name in records:
                mutate(records[name])
                self._save(records)

    def remove(self, name: str) -> ModelRecord:
        with self.lock():
            records = self._load()
            rec = self.get(name)
            del records[rec.name]
            self._save(records)
        if not rec.linked:
            self._remove_files(rec)
        return rec

    def _remove_files(self, rec: ModelRecord) -> None:
        self._remove_files_at(Path(rec.path))

    def _remove_files_at(self, path: Path) -> None:
        """A model's file, and its directory when that is one of the store's own."""
        with contextlib.suppress(OSError):
            path.unlink()
        if path.parent.parent == self.root:
            shutil.rmtree(path.parent, ignore_errors=True)

    def verify(self, rec: ModelRecord, progress: Callable[[int], None] | None = None) -> dict[str, Any]:
        path = Path(rec.path)
        if not path.is_file():
            return {"name": rec.name, "ok": False, "error": f"file missing: {path}"}
        size = path.stat().st_size
        if size != rec.size_bytes:
            return {"name": rec.name, "ok": False, "error": f"size {size} != recorded {rec.size_bytes}"}
        digest = sha256_file(path, progress)
        if digest != rec.sha256:
            return {"name": rec.name, "ok": False, "error": f"sha256 {digest} != recorded {rec.sha256}"}
        try:  # a copy cut short before it was registered hashes as recorded and still lacks its weights
            gguf.read_file_header(path)
        except gguf.GGUFError as e:
            return {"name": rec.name, "ok": False, "error": str(e)}
        for part in rec.parts:  # a split model: every part, as recorded
            p = path.parent / part["file"]
            if not p.is_file() or p.stat().st_size != part["size_bytes"] or sha256_file(p, progress) != part["sha256"]:
                return {"name": rec.name, "ok": False, "error": f"part {part['file']} is missing or changed"}
        return {"name": rec.name, "ok": True, "sha256": digest}


def resolve_model(ref: str | None, store: Store | None = None) -> tuple[Path, ModelRecord | None]:
    """A MODEL argument: a stored name or a path to a .gguf file; none means the most recently pulled."""
    store = store or Store()
    if ref is None:
        ref = store.latest().name
    looks_like_path = ref.lower().endswith(".gguf") or os.sep in ref or ref.startswith(".")
    if looks_like_path:
        path = Path(ref).expanduser()
        if not path.is_file():
            raise not_found(f"no such file: {ref}")
        inspect_gguf(path)
        return path, None
    rec = store.get(ref)
    path = Path(rec.path)
    if not path.is_file():
        where = "its linked file" if rec.linked else "its file"
        raise not_found(
            f"{rec.name}: {where} {path} is missing", "pull or import it again (`edgeagent models rm` drops it)"
        )
    return path, rec
