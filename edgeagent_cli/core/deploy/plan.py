"""`deploy check`: resolve every model of a deployment, pull nothing, and decide whether the models
that must be resident at once fit this device's budget.

A model already in the store is estimated from its file as `serve` will run it (every slot's KV
cache at the context); one that is not is planned as `pull --dry-run` plans it (remote headers, the
best quant that fits the budget alone). The sum must fit the budget; when it does not, the plan says
the largest context that would make it fit and, for models still to pull, a smaller quant.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeagent_cli.core.deploy.spec import Deployment
from edgeagent_cli.core.errors import EdgeError, ExitCode
from edgeagent_cli.core.models import fit
from edgeagent_cli.core.results import Result, Table
from edgeagent_cli.core.settings import Settings

MIB = 2**20


@dataclass
class PlannedModel:
    alias: str
    roles: list[str]  # router, or the agents it answers for
    stored: str | None  # the store name it resolves to
    path: str | None
    quant: str | None
    context: int
    estimate_bytes: int
    source: str  # store | plan (pull --dry-run) | node
    node: str | None = None
    arch: dict[str, Any] = field(default_factory=dict, repr=False)
    size_bytes: int = field(default=0, repr=False)
    variants: list[dict[str, Any]] = field(default_factory=list, repr=False)


@dataclass
class DeployPlan(Result):
    deployment: str
    file: str
    type: str
    engine: str
    budget_bytes: int
    budget_source: str
    total_bytes: int
    verdict: str
    models: list[PlannedModel]
    agents: list[dict[str, Any]]
    router: dict[str, Any]
    suggestion: str | None = None
    missing: list[str] = field(default_factory=list)  # aliases `deploy up` would pull

    def table(self) -> Table:
        rows = [
            [m.alias, ", ".join(m.roles), m.stored or f"pull {m.quant or '?'}", m.context, m.estimate_bytes, m.source]
            for m in self.models
        ]
        return Table(["model", "serves", "stored as", "context", "estimate_bytes", "estimate from"], rows)


def resolve_stored(alias: str, quant: str | None, stand_in: str | None) -> tuple[str, Path] | None:
    """The store model an alias means: --stand-in, an exact store name, else the newest pull of that alias."""
    from edgeagent_cli.core.models.store import Store, resolve_model

    if stand_in:
        path, rec = resolve_model(stand_in)
        return (rec.name if rec else path.name), path
    store = Store()
    exact = store.find(alias)
    if exact is not None:
        return exact.name, Path(exact.path)
    want = (quant or "").upper()
    for rec in sorted(store.list(), key=lambda r: -r.added_at):
        if rec.source.get("alias") == alias and (not want or (rec.quant or "").upper() == want):
            if Path(rec.path).is_file():
                return rec.name, Path(rec.path)
    return None


def plan(
    dep: Deployment, settings: Settings, engine: str, stand_in: str | None = None, context: int | None = None
) -> DeployPlan:
    """Every model resolved and estimated (nothing pulled); the verdict for the resident set. `context`
    (--ctx) overrides the models' own `context:`, which overrides the profile's."""
    from edgeagent_cli.core.models import gguf
    from edgeagent_cli.core.serve import manager

    budget, source = settings.budget()
    roles: dict[str, list[str]] = {}
    if dep.router.method != "keywords" and dep.router.model:
        roles.setdefault(dep.router.model, []).append("router")
    for a in dep.agents:
        if dep.type == "single-device":
            roles.setdefault(a.model, []).append(a.name)
    models = []
    missing = []
    for alias, serves in roles.items():
        spec = dep.model(alias)
        ctx = context or spec.context or int(settings["context"])
        found = resolve_stored(alias, spec.quant, stand_in)
        if found:
            name, path = found
            est = manager.served(name, path, settings, engine, ctx)
            summary = gguf.read_file_header(path).summary()
            models.append(
                PlannedModel(
                    alias, serves, name, str(path), summary.get("quant"), ctx, est.estimate_bytes, "store",
                    arch=gguf.arch_numbers(summary), size_bytes=path.stat().st_size,
                )
            )  # fmt: skip
            continue
        p = _pull_plan(alias, spec.quant, ctx, settings)
        chosen = p.chosen or (p.table[0] if p.table else None)
        if chosen is None:
            raise EdgeError(f"{alias}: no GGUF variant found", code=ExitCode.NOT_FOUND)
        missing.append(alias)
        models.append(
            PlannedModel(
                alias, serves, None, None, chosen["quant"], ctx, int(chosen["total_bytes"]), "plan",
                arch=p.arch, size_bytes=int(chosen["size_bytes"]), variants=p.table,
            )
        )  # fmt: skip
    for node in dep.nodes:
        for alias in node.models:
            models.append(PlannedModel(alias, [a for a in node.agents], None, None, None, 0, 0, "node", node.id))
    local = [m for m in models if m.source != "node"]
    total = _resident_bytes(local)
    verdict = fit.verdict(total, budget)
    result = DeployPlan(
        dep.name,
        str(dep.path),
        dep.type,
        engine,
        budget,
        source,
        total,
        verdict,
        models,
        [
            {
                "name": a.name,
                "model": a.model,
                "tools": a.tools + [f"mcp: {c}" for c in a.mcp],
                "nodes": [n.id for n in dep.nodes_for(a.name)],
            }
            for a in dep.agents
        ],  # fmt: skip
        {"model": dep.router.model, "method": dep.router.method, "default": dep.router.default},
        missing=missing,
    )
    if verdict == "does not fit":
        result.suggestion = _suggest(local, budget, str(settings["kv_cache_type"]))
    return result


def _resident_bytes(models: list[PlannedModel]) -> int:
    """Aliases that resolve to one stored file are loaded once (the largest of their estimates)."""
    by_file: dict[str, int] = {}
    for m in models:
        key = m.path or f"plan:{m.alias}"
        by_file[key] = max(by_file.get(key, 0), m.estimate_bytes)
    return sum(by_file.values())


def check(result: DeployPlan) -> DeployPlan:
    """Exit 4, with the plan in the document, when the resident models do not fit together."""
    if result.verdict == "does not fit":
        raise EdgeError(
            f"{result.deployment}: the resident models need {result.total_bytes / MIB:,.0f} MiB together and the "
            f"budget is {result.budget_bytes / MIB:,.0f} MiB ({result.budget_source})",
            result.suggestion or "raise --max-memory, or serve fewer models on this device",
            ExitCode.DOES_NOT_FIT,
            data=result,
        )
    return result


def _pull_plan(alias: str, quant: str | None, ctx: int, settings: Settings) -> Any:
    from dataclasses import replace

    from edgeagent_cli.core.models import pull

    target = replace(pull._target(settings), ctx=ctx)
    return pull.plan(alias, target, quant=quant, token=pull.env_token())


def _suggest(models: list[PlannedModel], budget: int, kv: str) -> str:
    """The largest context every model could share within the budget; else smaller quants to pull."""
    from dataclasses import replace

    with_arch = [m for m in models if {"n_layers", "n_kv_heads", "head_dim"} <= m.arch.keys()]

    def total(ctx: int) -> int:
        return _resident_bytes(
            [replace(m, estimate_bytes=fit.estimate(m.size_bytes, m.arch, ctx, kv)["total_bytes"]) if m in with_arch
             else m for m in models]
        )  # fmt: skip

    lo, hi = 0, max((m.context for m in with_arch), default=0) // 256
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if total(mid * 256) <= budget:
            lo = mid
        else:
            hi = mid - 1
    if lo * 256 >= 512:
        return f"it fits at context {lo * 256} for every model (set `context:` on the models, or --ctx {lo * 256})"
    smaller = []
    for m in models:
        ok = [v for v in m.variants if v["verdict"] != "does not fit" and v["total_bytes"] < m.estimate_bytes]
        if ok:
            v = min(ok, key=lambda v: v["total_bytes"])
            smaller.append(f"{m.alias} {v['quant']}")
    if smaller:
        return f"pull smaller quants: {', '.join(smaller)}; or raise --max-memory"
    return "no context or quant makes them fit: raise --max-memory or move agents to another node"
