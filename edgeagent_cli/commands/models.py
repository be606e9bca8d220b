"""`edgeagent models`: the local model store."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from edgeagent_cli.errors import EdgeError, ExitCode
from edgeagent_cli.options import JsonOpt, ModelArg, YesOpt
from edgeagent_cli.output import Output, human_bytes, stdin_is_terminal

app = typer.Typer(help="The local model store: import, list, show, verify, remove.", no_args_is_help=True)


@app.command("import")
def import_(
    path: Annotated[Path, typer.Argument(help="A .gguf file.")],
    name: Annotated[str | None, typer.Option("--name", help="Name in the store (default: file stem).")] = None,
    link: Annotated[bool, typer.Option("--link", help="Register the file where it is instead of copying.")] = False,
    json_: JsonOpt = False,
) -> None:
    """Copy (or link) a GGUF file into the store, hashed, with its metadata read.

    Examples:

      edgeagent models import ./SmolLM2-135M-Instruct.Q4_1.gguf

      edgeagent models import /data/phi.gguf --name phi-4-mini:Q4_K_M --link
    """
    from edgeagent_cli.core.store import Store

    out = Output(json_)
    rec = Store().add(path, name=name, link=link)
    out.document({"model": rec.to_dict()}, lambda o: o.line(f"imported {rec.name} ({human_bytes(rec.size_bytes)}, sha256 {rec.sha256[:12]}…)"))


@app.command("ls")
def ls(json_: JsonOpt = False) -> None:
    """List stored models (never partial downloads).

    Examples:

      edgeagent models ls

      edgeagent models ls --json | jq -r '.models[].name'
    """
    from edgeagent_cli.core.store import Store

    out = Output(json_)
    records = Store().list()
    doc = {"models": [r.to_dict() for r in records]}

    def human(o: Output) -> None:
        if not records:
            o.line("no models stored; try `edgeagent pull smollm2-135m`")
            return
        o.table(
            ["name", "quant", "arch", "size", "sha256", "source"],
            [(r.name, r.quant, r.architecture, human_bytes(r.size_bytes), r.sha256[:12],
              r.source.get("kind", "")) for r in records],
        )  # fmt: skip

    out.document(doc, human)


@app.command("show")
def show(model: ModelArg, json_: JsonOpt = False) -> None:
    """Show a model's GGUF metadata: architecture, parameters, layers, heads, context, quant, template.

    Examples:

      edgeagent models show smollm2-135m

      edgeagent models show ./model.gguf --json
    """
    from edgeagent_cli.core.store import inspect_gguf, resolve_model

    out = Output(json_)
    path, rec = resolve_model(model)
    meta = rec.metadata if rec else inspect_gguf(path)
    doc: dict[str, Any] = {**meta, "name": rec.name if rec else path.name, "general_name": meta.get("name"), "path": str(path)}
    if rec:
        doc.update(size_bytes=rec.size_bytes, sha256=rec.sha256, source=rec.source, memory=rec.memory)
    else:
        doc.update(size_bytes=path.stat().st_size)
    out.document(doc, lambda o: _render_show(o, doc))


def _render_show(out: Output, doc: dict[str, Any]) -> None:
    params = doc.get("parameters")
    items = [
        ("name", doc["name"]), ("path", doc["path"]), ("architecture", doc.get("architecture")),
        ("parameters", f"{params / 1e6:.1f} M" if params else None), ("layers", doc.get("n_layers")),
        ("heads", doc.get("n_heads")), ("KV heads", doc.get("n_kv_heads")), ("head dim", doc.get("head_dim")),
        ("context", doc.get("context_length")), ("vocab", doc.get("vocab_size")), ("quant", doc.get("file_type")),
        ("size", human_bytes(doc.get("size_bytes"))), ("sha256", doc.get("sha256", "(not stored)")),
        ("chat template", "yes" if doc.get("chat_template") else "no"),
        ("tool calls in template", "yes" if doc.get("template_tools") else "no"),
    ]  # fmt: skip
    for m in doc.get("memory") or []:
        err = f", error {m['error_pct']:+.1f}%" if m.get("error_pct") is not None else ""
        items.append((f"memory @ctx {m['context']}", f"estimated {human_bytes(m.get('estimated_bytes'))}, "
                      f"measured {human_bytes(m['peak_rss_bytes'])}{err}"))  # fmt: skip
    out.pairs(items)


@app.command("rm")
def rm(model: ModelArg, yes: YesOpt = False, json_: JsonOpt = False) -> None:
    """Remove a model from the store (a linked model's file is left where it is).

    Examples:

      edgeagent models rm smollm2-135m:Q4_1

      edgeagent models rm old-model --yes
    """
    from edgeagent_cli.core.store import Store

    out = Output(json_)
    store = Store()
    rec = store.get(model)
    if not yes:
        if json_ or not stdin_is_terminal():
            raise EdgeError(f"refusing to remove {rec.name} without confirmation", "pass --yes", ExitCode.USAGE)
        if not typer.confirm(f"Remove {rec.name} ({human_bytes(rec.size_bytes)})?", default=False):
            raise EdgeError("not removed", code=ExitCode.FAILURE)
    store.remove(rec.name)
    out.document({"removed": rec.name}, lambda o: o.line(f"removed {rec.name}"))


@app.command("verify")
def verify(
    models: Annotated[list[str] | None, typer.Argument(help="Stored model names (default: all).")] = None,
    json_: JsonOpt = False,
) -> None:
    """Re-hash stored models against their recorded sha256; exit 6 on any mismatch.

    Examples:

      edgeagent models verify

      edgeagent models verify smollm2-135m --json
    """
    from edgeagent_cli.core.store import Store

    out = Output(json_)
    store = Store()
    records = [store.get(m) for m in models] if models else store.list()
    results = [store.verify(r) for r in records]
    bad = [r for r in results if not r["ok"]]
    doc = {"results": results, "ok": not bad}

    def human(o: Output) -> None:
        for r in results:
            o.line(f"{'ok  ' if r['ok'] else 'FAIL'} {r['name']}" + ("" if r["ok"] else f": {r['error']}"))

    if bad:
        raise EdgeError(
            f"{len(bad)} model(s) failed verification: {', '.join(r['name'] for r in bad)}",
            "pull or import them again",
            ExitCode.INTEGRITY,
            data=doc,
        )
    out.document(doc, human)


@app.command("export-lock")
def export_lock(json_: JsonOpt = False) -> None:
    """Print a lockfile of the stored models: source, repo, revision, file, sha256 and size of each.

    Examples:

      edgeagent models export-lock > models.lock.json

      edgeagent models export-lock --json | jq '.models[].sha256'
    """
    import json
    import sys

    from edgeagent_cli import SCHEMA_VERSION
    from edgeagent_cli.core.store import Store

    out = Output(json_)
    entries = []
    for r in Store().list():
        src = r.source
        entries.append({"name": r.name, "source": src.get("kind"), "repo": src.get("repo"), "revision": src.get("revision"),
                        "file": src.get("file", r.file), "package": src.get("package"), "sha256": r.sha256,
                        "size_bytes": r.size_bytes, "quant": r.quant})  # fmt: skip
    doc = {"models": entries}
    if json_:
        out.document(doc)
    else:  # the lockfile itself is JSON either way, so it can be redirected to a file
        sys.stdout.write(json.dumps({"schema_version": SCHEMA_VERSION, **doc}, indent=2) + "\n")
