"""`edgeagent models`: the local model store."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from edgeagent_cli.cli.options import JsonOpt, ModelArg, YesOpt
from edgeagent_cli.cli.output import Output, human_bytes, stdin_is_terminal
from edgeagent_cli.core.errors import EdgeError, ExitCode

app = typer.Typer(help="The local model store: import, list, show, verify, remove, lock.", no_args_is_help=True)

NameOpt = Annotated[str | None, typer.Option("--name", help="Name in the store (default: file stem).")]
LinkOpt = Annotated[bool, typer.Option("--link", help="Register the file where it is instead of copying.")]
ModelsArg = Annotated[list[str] | None, typer.Argument(help="Stored model names (default: all).")]


@app.command("import")
def import_(
    path: Annotated[Path, typer.Argument(help="A .gguf file.")],
    name: NameOpt = None,
    link: LinkOpt = False,
    json_: JsonOpt = False,
) -> None:
    """Copy (or link) a GGUF file into the store, hashed, with its metadata read.

    Examples:

      edgeagent models import ./SmolLM2-135M-Instruct.Q4_1.gguf

      edgeagent models import /data/phi.gguf --name phi-4-mini:Q4_K_M --link
    """
    from edgeagent_cli.core.models import inventory

    out = Output(json_)
    done = inventory.import_model(path, name, link)
    for warning in done.warnings:
        out.warn(warning)
    r = done.model
    out.emit(done, lambda o: o.line(f"imported {r.name} ({human_bytes(r.size_bytes)}, sha256 {r.sha256[:12]}…)"))


@app.command("ls")
def ls(json_: JsonOpt = False) -> None:
    """List stored models (never partial downloads).

    Examples:

      edgeagent models ls

      edgeagent models ls --json | jq -r '.models[].name'
    """
    from edgeagent_cli.core.models import inventory

    out = Output(json_)
    listing = inventory.list_models()

    def human(o: Output) -> None:
        if not listing.models:
            o.line("no models stored; try `edgeagent pull smollm2-135m`")
            return
        rows = [
            (r.name, r.quant, r.architecture, human_bytes(r.total_bytes), r.sha256[:12], r.source.get("kind", ""))
            for r in listing.models
        ]
        o.table(["name", "quant", "arch", "size", "sha256", "source"], rows)

    out.emit(listing, human)


@app.command("show")
def show(model: ModelArg, json_: JsonOpt = False) -> None:
    """Show a model's GGUF metadata, license, tool calling and measured memory.

    Examples:

      edgeagent models show smollm2-135m

      edgeagent models show ./model.gguf --json
    """
    from edgeagent_cli.core.models import inventory

    out = Output(json_)
    info = inventory.show(model)
    out.emit(info, lambda o: _render_show(o, info.fields()))


def _render_show(out: Output, doc: dict[str, Any]) -> None:
    params = doc.get("parameters")
    facts = doc.get("catalog") or {}
    items: list[tuple[str, Any]] = [
        ("name", doc["name"]),
        ("path", doc["path"]),
        ("architecture", doc.get("architecture")),
        ("parameters", f"{params / 1e6:.1f} M" if params else None),
        ("layers", doc.get("n_layers")),
        ("heads", doc.get("n_heads")),
        ("KV heads", doc.get("n_kv_heads")),
        ("head dim", doc.get("head_dim")),
        ("context", doc.get("context_length")),
        ("vocab", doc.get("vocab_size")),
        ("quant", doc.get("file_type")),
        ("size", human_bytes(doc.get("size_bytes"))),
        ("sha256", doc.get("sha256", "(not stored)")),
        ("chat template", "yes" if doc.get("chat_template") else "no"),
        ("tool calls in template", "yes" if doc.get("template_tools") else "no"),
        ("template flags", ", ".join(doc.get("template_flags") or []) or "none"),
    ]
    if facts:
        items += [("catalog", facts.get("display_name")), ("license", facts.get("license"))]
    for m in doc.get("memory") or []:
        err = f", error {m['error_pct']:+.1f}%" if m.get("error_pct") is not None else ""
        measured = f"estimated {human_bytes(m.get('estimated_bytes'))}, measured {human_bytes(m['peak_rss_bytes'])}"
        items.append((f"memory @ctx {m['context']}", measured + err))
    out.pairs(items)


@app.command("rm")
def rm(model: ModelArg, yes: YesOpt = False, json_: JsonOpt = False) -> None:
    """Remove a model from the store (a linked model's file is left where it is).

    Examples:

      edgeagent models rm smollm2-135m:Q4_1

      edgeagent models rm old-model --yes
    """
    from edgeagent_cli.core.models import inventory
    from edgeagent_cli.core.models.store import Store

    out = Output(json_)
    rec = Store().get(model)
    if not yes:
        if json_ or not stdin_is_terminal():
            raise EdgeError(f"refusing to remove {rec.name} without confirmation", "pass --yes", ExitCode.USAGE)
        if not typer.confirm(f"Remove {rec.name} ({human_bytes(rec.total_bytes)})?", default=False):
            raise EdgeError("not removed", code=ExitCode.FAILURE)
    removed = inventory.remove(rec.name)
    out.emit(removed, lambda o: o.line(f"removed {removed.removed}"))


@app.command("verify")
def verify(models: ModelsArg = None, json_: JsonOpt = False) -> None:
    """Re-hash stored models against their recorded sha256; exit 6 on any mismatch.

    Examples:

      edgeagent models verify

      edgeagent models verify smollm2-135m --json
    """
    from edgeagent_cli.core.models import inventory

    out = Output(json_)
    report = inventory.verify(models)

    def human(o: Output) -> None:
        for r in report.results:
            o.line(f"{'ok  ' if r['ok'] else 'FAIL'} {r['name']}" + ("" if r["ok"] else f": {r['error']}"))

    out.emit(report, human)


@app.command("export-lock")
def export_lock(json_: JsonOpt = False) -> None:
    """Print a lockfile of the stored models: source, repo, revision, file, sha256 and size of each.

    The lockfile is JSON with or without --json, so it can be redirected to a file.

    Examples:

      edgeagent models export-lock > models.lock.json

      edgeagent models export-lock --json | jq '.models[].sha256'
    """
    from edgeagent_cli.core.models.lock import export_lock as lockfile

    Output(json_mode=True).emit(lockfile())


@app.command("sync")
def sync(
    lock: Annotated[Path, typer.Option("--lock", help="A lockfile from `edgeagent models export-lock`.")],
    json_: JsonOpt = False,
) -> None:
    """Fetch exactly the models a lockfile names (repo, revision, file) and verify each sha256.

    Models already stored with the lock's sha256 are left alone; a file whose sha256 differs is not
    registered (exit 6).

    Examples:

      edgeagent models sync --lock models.lock.json

      HF_ENDPOINT=http://mirror.local edgeagent models sync --lock models.lock.json --json
    """
    from edgeagent_cli.core.models.lock import sync as sync_lock

    out = Output(json_)
    result = sync_lock(lock, out.info)
    t = result.table()
    out.emit(result, lambda o: o.table(t.columns, t.rows))
