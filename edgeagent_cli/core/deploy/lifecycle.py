"""`deploy up/status/down`: a deployment's models pulled (verified, as `pull` does) and served.

`up` plans first (exit 4 before anything is pulled or started when the resident models do not fit),
pulls what is missing, then starts one managed server (`serve`'s gateway, named `deploy-NAME`) with
the agents' models, and records the deployment in EDGEAGENT_HOME/deployments/NAME.json: the file,
the server, which store model each alias resolved to. The router model is loaded by whoever routes
(`chat --deployment`, `eval route`), in-process, since it scores with the model's likelihoods.
For the distributed shape the nodes run their own servers; `up` checks that each answers.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeagent_cli.core import paths
from edgeagent_cli.core.deploy.plan import DeployPlan, check, plan, resolve_stored
from edgeagent_cli.core.deploy.spec import Deployment
from edgeagent_cli.core.errors import EdgeError, ExitCode
from edgeagent_cli.core.results import Result, Table
from edgeagent_cli.core.settings import Settings
from edgeagent_cli.core.util.files import atomic_write_text, safe_name


def records_dir() -> Path:
    return paths.home() / "deployments"


def server_name(dep_name: str) -> str:
    return f"deploy-{dep_name}"


@dataclass
class Up(Result):
    deployment: str
    file: str
    type: str
    plan: DeployPlan
    pulled: list[str]
    server: dict[str, Any] | None
    nodes: list[dict[str, Any]] = field(default_factory=list)
    models: dict[str, str] = field(default_factory=dict)  # alias -> store name


@dataclass
class DeployStatus(Result):
    deployments: list[dict[str, Any]]

    def table(self) -> Table:
        rows = []
        for d in self.deployments:
            where = d.get("base_url") or ", ".join(f"{n['id']}={'up' if n['healthy'] else 'DOWN'}" for n in d["nodes"])
            rows.append([d["name"], d["type"], "healthy" if d["healthy"] else "NOT ANSWERING", where, d["file"]])
        return Table(["deployment", "type", "health", "where", "file"], rows)


@dataclass
class Down(Result):
    stopped: list[str]


def up(
    dep: Deployment,
    settings: Settings,
    engine: str,
    stand_in: str | None = None,
    on_event: Any = None,
    wait: float = 120.0,
    context: int | None = None,
) -> Up:
    from edgeagent_cli.core.models import pull as pulling
    from edgeagent_cli.core.serve import manager

    info = on_event or (lambda _: None)
    p = check(plan(dep, settings, engine, stand_in, context))
    pulled = []
    for alias in p.missing:
        info(f"pulling {alias}")
        pulling.pull(alias, settings, quant=dep.model(alias).quant, on_event=info)
        pulled.append(alias)
    models: dict[str, str] = {}
    for m in dep.models:
        found = resolve_stored(m.alias, m.quant, stand_in)
        if found:
            models[m.alias] = found[0]
    server = None
    nodes = []
    if dep.type == "single-device":
        served: list[manager.Served] = []
        for alias in dict.fromkeys(a.model for a in dep.agents):
            name, path = resolve_stored(alias, dep.model(alias).quant, stand_in) or (None, None)
            if name is None or path is None:
                raise EdgeError(f"{alias} is not stored after the pull", code=ExitCode.NOT_FOUND)
            if name not in (s.name for s in served):
                ctx = context or dep.model(alias).context
                served.append(manager.served(name, path, settings, engine, ctx))
        st = manager.start(server_name(dep.name), served, manager.Options(engine), settings, wait)
        server = {"name": server_name(dep.name), "base_url": st.base_url, "pid": st.pid, "engine": st.engine,
                  "already_running": st.already_running, "models": st.models}  # fmt: skip
    else:
        nodes = node_health(dep)
        down = [n["id"] for n in nodes if not n["healthy"]]
        if down:
            info(f"warning: node(s) not answering: {', '.join(down)}")
    record = {
        "name": dep.name,
        "file": str(dep.path.resolve()),
        "type": dep.type,
        "server": server["name"] if server else None,
        "base_url": server["base_url"] if server else None,
        "models": models,
        "stand_in": stand_in,
        "started_at": time.time(),
    }
    records_dir().mkdir(parents=True, exist_ok=True)
    atomic_write_text(records_dir() / f"{safe_name(dep.name)}.json", json.dumps(record, indent=2))
    return Up(dep.name, str(dep.path), dep.type, p, pulled, server, nodes, models)


def node_health(dep: Deployment) -> list[dict[str, Any]]:
    from edgeagent_cli.core.util.http import base_v1, http_status

    out = []
    for n in dep.nodes:
        code = http_status(f"{base_v1(n.endpoint)}/models") if n.endpoint else None
        out.append({"id": n.id, "endpoint": n.endpoint, "agents": n.agents, "healthy": code in (200, 401, 403)})
    return out


def records() -> list[dict[str, Any]]:
    found = []
    for path in sorted(records_dir().glob("*.json")) if records_dir().is_dir() else []:
        try:
            doc = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(doc, dict) and isinstance(doc.get("name"), str):
            found.append(doc)
    return found


def record(name: str) -> dict[str, Any] | None:
    return next((r for r in records() if r["name"] == name), None)


def running_server(name: str) -> dict[str, Any] | None:
    """The live server of an up deployment (None when it is not up or its server is gone)."""
    from edgeagent_cli.core.serve import manager

    rec = record(name)
    if not rec or not rec.get("server"):
        return None
    return next((s for s in manager.states() if s["name"] == rec["server"]), None)


def status() -> DeployStatus:
    from edgeagent_cli.core.deploy.spec import load_file
    from edgeagent_cli.core.serve import manager

    servers = {s["name"]: s for s in manager.status().servers}
    out = []
    for rec in records():
        doc: dict[str, Any] = {**rec, "nodes": [], "healthy": False, "served": []}
        if rec.get("server"):
            s = servers.get(rec["server"])
            doc["healthy"] = bool(s and s["healthy"])
            doc["served"] = s["served"] if s else []
            doc["rss_bytes"] = s["rss_bytes"] if s else None
        else:
            try:
                doc["nodes"] = node_health(load_file(Path(rec["file"])))
            except EdgeError:
                doc["nodes"] = []
            doc["healthy"] = any(n["healthy"] for n in doc["nodes"])
        out.append(doc)
    return DeployStatus(out)


def down(name: str | None) -> Down:
    from edgeagent_cli.core.serve import manager

    recs = [r for r in records() if name is None or r["name"] == name]
    if name and not recs:
        raise EdgeError(f"no deployment named {name!r} is up", "see `edgeagent deploy status`", ExitCode.NOT_FOUND)
    running = {s["name"] for s in manager.states()}
    for rec in recs:
        if rec.get("server") in running:
            manager.stop(rec["server"])
        (records_dir() / f"{safe_name(rec['name'])}.json").unlink(missing_ok=True)
    return Down([r["name"] for r in recs])
