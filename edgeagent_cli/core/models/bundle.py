"""Bundles: models (and what runs them) carried to a machine with no network.

A bundle is one uncompressed tar (GGUF weights do not compress): `manifest.json` first, naming every
member with its size and sha256, then the lock of the models it carries, the models, the user's
catalog and profiles, and with `--with-wheels` the wheels that install edgeagent on a machine like
this one (the llama-cpp-python wheel setup.sh built here, with the flags in the manifest, else its
sdist).

`install` never touches the network. It extracts into a staging folder (a member already there with
the right size and sha256 is not extracted again: an interrupted install resumes), checks every
sha256 against the manifest before anything is registered (one flipped byte: exit 6, nothing
registered), then registers each model unless the store already holds its sha256 (installing twice
changes nothing).
"""

from __future__ import annotations

import json
import os
import shutil
import tarfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeagent_cli import __version__
from edgeagent_cli.core import paths
from edgeagent_cli.core.errors import EdgeError, ExitCode
from edgeagent_cli.core.models.lock import LockEntry
from edgeagent_cli.core.models.store import Store
from edgeagent_cli.core.results import Result, Table
from edgeagent_cli.core.util.files import file_lock, safe_name
from edgeagent_cli.core.util.hashing import sha256_file

FORMAT = 1
BLOCK = 512  # tar's block: each member is a header block plus its data padded to whole blocks


@dataclass
class Member:
    path: str  # inside the bundle
    kind: str  # model | lock | catalog | profile | wheel
    size_bytes: int
    sha256: str
    source: Path | None = field(default=None, repr=False)


@dataclass
class BundleCreated(Result):
    path: str
    size_bytes: int
    models: list[str]
    members: list[dict[str, Any]]
    notes: list[str] = field(default_factory=list)

    def table(self) -> Table:
        return Table(["member", "kind", "size_bytes", "sha256"],
                     [[m["path"], m["kind"], m["size_bytes"], m["sha256"][:12]] for m in self.members])  # fmt: skip


@dataclass
class BundleInstalled(Result):
    bundle: str
    models: list[dict[str, Any]]  # name, status: registered | present
    files: list[str]  # catalog / profiles written
    wheels: str | None  # where the wheels are, with the pip command that installs them
    verified_members: int


def tar_size(members: list[Member]) -> int:
    """The bundle's size before it is written: each member's header and padded data, the end blocks."""
    data = sum(BLOCK + -(-m.size_bytes // BLOCK) * BLOCK for m in members)
    return data + 2 * BLOCK + BLOCK + 4096  # end-of-archive blocks, the manifest's header, its text


def create(
    out: Path,
    names: list[str],
    max_size: int | None = None,
    with_wheels: bool = False,
    on_event: Callable[[str], None] | None = None,
) -> BundleCreated:
    info = on_event or (lambda _: None)
    store = Store()
    records = [store.get(n) for n in names] if names else store.list()
    if not records:
        raise EdgeError("nothing to bundle: the store is empty", "pull a model first", ExitCode.NOT_FOUND)
    members: list[Member] = []
    lock = []
    for rec in records:
        path = Path(rec.path)
        if not path.is_file():
            raise EdgeError(f"{rec.name}: its file {path} is missing", "pull or import it again", ExitCode.NOT_FOUND)
        members.append(Member(f"models/{rec.sha256[:16]}/{path.name}", "model", path.stat().st_size, rec.sha256, path))
        entry = LockEntry.of(rec).__dict__ | {"bundle_path": members[-1].path}
        for piece in rec.parts:  # a split model's other parts, beside the first
            members.append(Member(f"models/{rec.sha256[:16]}/{piece['file']}", "model-part",
                                  int(piece["size_bytes"]), piece["sha256"], path.parent / piece["file"]))  # fmt: skip
        lock.append(entry)
    extra: list[tuple[str, str, Path]] = []
    from edgeagent_cli.core.models.catalog import user_catalog_path

    if user_catalog_path().is_file():
        extra.append(("catalog.yaml", "catalog", user_catalog_path()))
    for p in sorted(paths.user_profiles_dir().glob("*.yaml")) if paths.user_profiles_dir().is_dir() else []:
        extra.append((f"profiles/{p.name}", "profile", p))
    notes: list[str] = []
    wheel_dir = None
    if with_wheels:
        wheel_dir = paths.partial_dir() / f"bundle-wheels-{os.getpid()}"
        from edgeagent_cli.core.models.wheels import collect

        notes += collect(wheel_dir, info)
        for w in sorted(wheel_dir.iterdir()):
            extra.append((f"wheels/{w.name}", "wheel", w))
    try:
        for name, kind, p in extra:
            members.append(Member(name, kind, p.stat().st_size, sha256_file(p), p))
        lock_text = json.dumps({"models": lock}, indent=2).encode()
        need = tar_size(members) + BLOCK + len(lock_text)
        if max_size is not None and need > max_size:
            raise EdgeError(
                f"the bundle would be {need / 2**20:,.1f} MiB, over --max-size {max_size / 2**20:,.1f} MiB",
                "bundle fewer models, or leave out --with-wheels",
                ExitCode.DOES_NOT_FIT,
            )
        import hashlib

        lock_member = Member("lock.json", "lock", len(lock_text), hashlib.sha256(lock_text).hexdigest())
        manifest: dict[str, Any] = {
            "format": FORMAT,
            "created_at": time.time(),
            "edgeagent": __version__,
            "members": [{k: v for k, v in m.__dict__.items() if k != "source"} for m in [lock_member, *members]],
            "notes": notes,
        }
        part = out.with_name(out.name + ".part")
        out.parent.mkdir(parents=True, exist_ok=True)
        with tarfile.open(part, "w", format=tarfile.PAX_FORMAT) as tar:
            _add_bytes(tar, "manifest.json", json.dumps(manifest, indent=2).encode())
            _add_bytes(tar, "lock.json", lock_text)
            for m in members:
                info(f"adding {m.path} ({m.size_bytes:,} bytes)")
                assert m.source is not None
                tar.add(str(m.source), arcname=m.path, recursive=False)
        os.replace(part, out)
    finally:
        if wheel_dir is not None:
            shutil.rmtree(wheel_dir, ignore_errors=True)
    return BundleCreated(str(out), out.stat().st_size, [r.name for r in records], manifest["members"], notes)


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    import io

    ti = tarfile.TarInfo(name)
    ti.size = len(data)
    ti.mtime = int(time.time())
    tar.addfile(ti, io.BytesIO(data))


def install(bundle: Path, on_event: Callable[[str], None] | None = None) -> BundleInstalled:
    info = on_event or (lambda _: None)
    if not bundle.is_file():
        raise EdgeError(f"no such bundle: {bundle}", code=ExitCode.NOT_FOUND)
    try:
        tar = tarfile.open(bundle, "r:")
    except (tarfile.TarError, OSError) as e:
        raise EdgeError(f"{bundle} is not a bundle: {e}", code=ExitCode.INTEGRITY) from e
    with tar:
        manifest = _manifest(tar, bundle)
        listed = {m["path"]: m for m in manifest["members"]}
        stage = paths.partial_dir() / safe_name(f"bundle--{bundle.name}--{int(bundle.stat().st_size)}")
        stored = {r.sha256 for r in Store().list() if Path(r.path).is_file()}
        with file_lock(stage.with_suffix(".lock")):
            stage.mkdir(parents=True, exist_ok=True)
            try:
                _extract(tar, bundle, listed, stage, info, stored)
            except (tarfile.TarError, EOFError) as e:  # the archive ends inside a member
                raise EdgeError(f"{bundle} is cut short or damaged: {e}",
                                "copy the bundle again; nothing was registered", ExitCode.INTEGRITY) from e  # fmt: skip
    # every member is here and verified: only now is anything registered
    lock = json.loads((stage / "lock.json").read_text())
    store = Store()
    have = {r.sha256 for r in store.list() if Path(r.path).is_file()}
    models = []
    for entry in lock["models"]:
        sha = entry["sha256"]
        if sha in have:
            models.append({"name": entry["name"], "status": "present"})
            continue
        src = stage / entry["bundle_path"]
        parts = [(src.parent / p["file"], p["sha256"]) for p in entry.get("parts") or []]
        source = {"kind": entry.get("source") or "bundle", "repo": entry.get("repo"), "revision": entry.get("revision"),
                  "file": entry.get("file"), "sha256": sha, "size_bytes": entry.get("size_bytes"),
                  "alias": (entry.get("name") or "").split(":")[0], "bundle": str(bundle)}  # fmt: skip
        if entry.get("package"):
            source["package"] = entry["package"]
        rec = store.add(src, name=entry["name"], move=True, source=source, expected_sha256=sha, parts=parts)
        have.add(sha)
        models.append({"name": rec.name, "status": "registered"})
    files = _copy_config(stage, info)
    wheels = None
    if (stage / "wheels").is_dir():
        target = paths.home() / "wheels"
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(stage / "wheels", target)
        wheels = f"pip install --no-index --find-links {target} edgeagent-cli"
    shutil.rmtree(stage, ignore_errors=True)
    return BundleInstalled(str(bundle), models, files, wheels, len(listed))


def _manifest(tar: tarfile.TarFile, bundle: Path) -> dict[str, Any]:
    try:
        first = tar.next()
        if first is None or first.name != "manifest.json":
            raise ValueError("it does not start with manifest.json")
        fh = tar.extractfile(first)
        doc = json.loads(fh.read() if fh else b"")
        if doc.get("format") != FORMAT or not isinstance(doc.get("members"), list):
            raise ValueError(f"unknown bundle format {doc.get('format')!r}")
        return dict(doc)
    except (tarfile.TarError, ValueError, AttributeError) as e:
        raise EdgeError(f"{bundle} is not a bundle: {e}", code=ExitCode.INTEGRITY) from e


def _extract(
    tar: tarfile.TarFile,
    bundle: Path,
    listed: dict[str, Any],
    stage: Path,
    info: Callable[[str], None],
    stored: set[str],
) -> None:
    """Every listed member into the stage, verified; members the manifest does not name are refused;
    models the store already holds (by sha256) are not extracted at all."""
    from edgeagent_cli.core.util.hashing import copy_hashing

    seen = set()
    for ti in tar:
        if ti.name == "manifest.json":
            continue
        want = listed.get(ti.name)
        if want is None or not ti.isfile():
            raise EdgeError(f"{bundle}: member {ti.name!r} is not in its manifest", code=ExitCode.INTEGRITY)
        dest = stage / ti.name
        if not dest.resolve().is_relative_to(stage.resolve()):
            raise EdgeError(f"{bundle}: member {ti.name!r} would land outside the store", code=ExitCode.INTEGRITY)
        seen.add(ti.name)
        if want["kind"] == "model" and want["sha256"] in stored:  # (its parts are extracted: a few, rarely)
            continue
        if dest.is_file() and dest.stat().st_size == want["size_bytes"] and sha256_file(dest) == want["sha256"]:
            continue  # extracted by an earlier, interrupted install
        info(f"verifying {ti.name}")
        dest.parent.mkdir(parents=True, exist_ok=True)
        part = dest.with_name(dest.name + ".part")
        src = tar.extractfile(ti)
        assert src is not None
        with part.open("wb") as out:
            digest = copy_hashing(src, out)
        if digest != want["sha256"] or part.stat().st_size != want["size_bytes"]:
            part.unlink(missing_ok=True)
            raise EdgeError(
                f"{bundle}: {ti.name} is damaged (sha256 {digest[:12]}…, the manifest says {want['sha256'][:12]}…)",
                "copy the bundle again; nothing was registered",
                ExitCode.INTEGRITY,
            )
        os.replace(part, dest)
    missing = sorted(set(listed) - seen)
    if missing:
        raise EdgeError(f"{bundle} is cut short: {len(missing)} member(s) missing ({missing[0]}, ...)",
                        "copy the bundle again; nothing was registered", ExitCode.INTEGRITY)  # fmt: skip


def _copy_config(stage: Path, info: Callable[[str], None]) -> list[str]:
    """The bundle's catalog and profiles, where the user has none of the same name (theirs are kept)."""
    from edgeagent_cli.core.models.catalog import user_catalog_path

    written = []
    pairs = [(stage / "catalog.yaml", user_catalog_path())]
    pairs += [(p, paths.user_profiles_dir() / p.name) for p in sorted((stage / "profiles").glob("*.yaml"))]
    for src, dest in pairs:
        if not src.is_file():
            continue
        if dest.exists():
            if dest.read_bytes() != src.read_bytes():
                info(f"kept your {dest} (the bundle's differs)")
            continue
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dest)
        written.append(str(dest))
    return written
