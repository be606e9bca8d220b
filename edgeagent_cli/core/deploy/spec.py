"""A deployment file: a router model and specialist agents on one device, or on several edge nodes.

It takes the seed's two shapes as written (`type: single-device` with `models` and `agents`;
`type: distributed-edge` with `nodes` naming agents and models) and what they leave implicit: per
agent a description, a system prompt, tools (built-in names, a `tools/NAME.py` beside the file, a
.py path, MCP commands), the tools approved without asking, and keywords for the keyword router;
(the seed's `database`, `calendar` and `email` are shipped in deployments/tools); per model the
quant and context; the router (model, method, default agent); a fallback endpoint;
monitoring thresholds; per node an endpoint. Loaded by the same loader as profiles, so an error
names file, line and field: `deployments/x.yaml:14: deployment.agents[1].model: unknown model 'phi'`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeagent_cli.core import paths
from edgeagent_cli.core.errors import EdgeError, ExitCode
from edgeagent_cli.core.util.yaml_loader import DataFileError, Field, check, load

BUILTIN_TOOLS = ("calculator", "current_time", "read_file", "list_dir", "write_file", "system_info")
ROUTER_METHODS = ("likelihood", "classifier", "keywords")
TYPES = ("single-device", "distributed-edge")

TOP = {
    "name": Field((str,)),
    "type": Field((str,), required=True, choices=TYPES),
    "description": Field((str,)),
    "hardware": Field((str,)),
    "models": Field((list,)),
    "agents": Field((list,)),
    "router": Field((dict,)),
    "fallback": Field((dict,)),
    "monitoring": Field((dict,)),
    "nodes": Field((list,)),
    "coordination": Field((dict,)),
    "workspace": Field((str,)),
}
MODEL = {
    "alias": Field((str,), required=True),
    "primary": Field((bool,)),
    "secondary": Field((bool,)),
    "tasks": Field((list,)),
    "quant": Field((str,)),
    "context": Field((int,), minimum=256),
}
AGENT = {
    "name": Field((str,), required=True),
    "model": Field((str,)),
    "description": Field((str,)),
    "system": Field((str,)),
    "tools": Field((list,)),
    "mcp": Field((list,)),
    "approve": Field((list,)),
    "keywords": Field((list,)),
    "tasks": Field((list,)),
    "max_steps": Field((int,), minimum=1),
}
ROUTER = {
    "model": Field((str,)),
    "method": Field((str,), choices=ROUTER_METHODS),
    "default": Field((str,)),
    "escalate_below": Field((float,)),
}
FALLBACK = {
    "endpoint": Field((str,), required=True),
    "model": Field((str,)),
    "api_key_env": Field((str,)),
}
MONITORING = {
    "interval_s": Field((float,), minimum=1),
    "thresholds": Field((dict,)),
}
THRESHOLDS = {
    "response_time_ms": Field((float,), minimum=0),  # end-to-end p95
    "ttft_p95_ms": Field((float,), minimum=0),
    "error_rate": Field((float,), minimum=0),  # a fraction: 0.05 is 5%
    "memory_percent": Field((float,), minimum=0),
    "min_tokens_per_s": Field((float,), minimum=0),
}
NODE = {
    "id": Field((str,), required=True),
    "endpoint": Field((str,)),
    "api_key_env": Field((str,)),
    "agents": Field((list,), required=True),
    "models": Field((list,)),
}
COORDINATION = {
    "load_balancing": Field((bool,)),
    "failover": Field((str,), choices=("automatic", "none")),
}


@dataclass
class ModelSpec:
    alias: str
    tasks: list[str] = field(default_factory=list)
    primary: bool = False
    secondary: bool = False
    quant: str | None = None
    context: int | None = None


@dataclass
class AgentSpec:
    name: str
    model: str
    description: str = ""
    system: str | None = None
    tools: list[str] = field(default_factory=list)
    mcp: list[str] = field(default_factory=list)
    approve: list[str] = field(default_factory=list)
    keywords: list[str] = field(default_factory=list)
    tasks: list[str] = field(default_factory=list)
    max_steps: int = 6

    def summary(self) -> str:
        """What the router reads of the agent: its description, else its tasks and name."""
        if self.description:
            return self.description
        return f"{self.name.replace('-', ' ')}: {', '.join(self.tasks) or 'general requests'}"


@dataclass
class RouterSpec:
    model: str | None
    method: str
    default: str  # an agent, or "fallback"
    escalate_below: float | None = None


@dataclass
class NodeSpec:
    id: str
    agents: list[str]
    models: list[str]
    endpoint: str | None = None
    api_key_env: str | None = None


@dataclass
class Deployment:
    name: str
    type: str
    path: Path
    models: list[ModelSpec]
    agents: list[AgentSpec]
    router: RouterSpec
    hardware: str | None = None
    description: str = ""
    fallback: dict[str, Any] | None = None
    thresholds: dict[str, float] = field(default_factory=dict)
    interval_s: float = 30.0
    nodes: list[NodeSpec] = field(default_factory=list)
    load_balancing: bool = False
    failover: str = "automatic"
    workspace: Path | None = None

    def agent(self, name: str) -> AgentSpec:
        for a in self.agents:
            if a.name == name:
                return a
        raise EdgeError(
            f"no agent {name!r} in {self.path}", f"agents: {', '.join(self.agent_names())}", ExitCode.NOT_FOUND
        )

    def agent_names(self) -> list[str]:
        return [a.name for a in self.agents]

    def model(self, alias: str) -> ModelSpec:
        return next((m for m in self.models if m.alias == alias), ModelSpec(alias))

    def nodes_for(self, agent: str) -> list[NodeSpec]:
        return [n for n in self.nodes if agent in n.agents]


def _strings(value: list[Any], path: Path, lines: dict[str, int], where: str) -> list[str]:
    for i, v in enumerate(value):
        if not isinstance(v, str) or not v.strip():
            raise DataFileError(path, lines.get(f"{where}[{i}]"), f"{where}[{i}]", f"expected a string, got {v!r}")
    return list(value)


def load_file(path: Path) -> Deployment:
    """Parse and check a deployment file; every cross-reference (agent -> model, node -> agent) too."""
    data, lines = load(path)
    if not isinstance(data, dict) or "deployment" not in data:
        raise DataFileError(path, 1, None, "expected a mapping with a top-level `deployment:`")
    check(data, {"deployment": Field((dict,), required=True)}, path, lines)
    d = check(data["deployment"], TOP, path, lines, "deployment")
    P = "deployment"

    models = []
    for i, m in enumerate(d.get("models") or []):
        where = f"{P}.models[{i}]"
        check(m, MODEL, path, lines, where)
        models.append(
            ModelSpec(
                m["alias"],
                _strings(m.get("tasks") or [], path, lines, f"{where}.tasks"),
                bool(m.get("primary")),
                bool(m.get("secondary")),
                m.get("quant"),
                m.get("context"),
            )
        )
    nodes = []
    for i, n in enumerate(d.get("nodes") or []):
        where = f"{P}.nodes[{i}]"
        check(n, NODE, path, lines, where)
        nodes.append(
            NodeSpec(
                n["id"],
                _strings(n["agents"], path, lines, f"{where}.agents"),
                _strings(n.get("models") or [], path, lines, f"{where}.models"),
                n.get("endpoint"),
                n.get("api_key_env"),
            )
        )
    for n in nodes:  # a node's models are deployment models too
        for alias in n.models:
            if all(m.alias != alias for m in models):
                models.append(ModelSpec(alias))
    if not models:
        raise DataFileError(path, lines.get(P), f"{P}.models", "no models: name at least one")
    aliases = [m.alias for m in models]
    primary = next((m.alias for m in models if m.primary), aliases[0])

    agents = []
    declared = d.get("agents") or []
    for i, a in enumerate(declared):
        where = f"{P}.agents[{i}]"
        check(a, AGENT, path, lines, where)
        model = a.get("model") or _node_model(a["name"], nodes) or primary
        if model not in aliases:
            raise DataFileError(
                path,
                lines.get(f"{where}.model"),
                f"{where}.model",
                f"unknown model {model!r} (models: {', '.join(aliases)})",
            )
        tools = _strings(a.get("tools") or [], path, lines, f"{where}.tools")
        for j, t in enumerate(tools):
            if tool_source(t, path) is None:
                raise DataFileError(
                    path,
                    lines.get(f"{where}.tools[{j}]"),
                    f"{where}.tools[{j}]",
                    f"unknown tool {t!r}: not a built-in ({', '.join(BUILTIN_TOOLS)}), "
                    f"not tools/{t}.py beside the file, not a .py file",
                )
        agents.append(
            AgentSpec(
                a["name"],
                model,
                a.get("description") or "",
                a.get("system"),
                tools,
                _strings(a.get("mcp") or [], path, lines, f"{where}.mcp"),
                _strings(a.get("approve") or [], path, lines, f"{where}.approve"),
                [k.lower() for k in _strings(a.get("keywords") or [], path, lines, f"{where}.keywords")],
                _strings(a.get("tasks") or [], path, lines, f"{where}.tasks"),
                int(a.get("max_steps") or 6),
            )
        )
    names = [a.name for a in agents]
    for n in nodes:  # the seed's distributed shape names agents only on nodes: defined by their names
        for name in n.agents:
            if name not in names:
                agents.append(AgentSpec(name, n.models[0] if n.models else primary, tasks=[name.replace("-", " ")]))
                names.append(name)
    if len(set(names)) != len(names):
        dup = next(x for x in names if names.count(x) > 1)
        raise DataFileError(path, lines.get(f"{P}.agents"), f"{P}.agents", f"agent {dup!r} is defined twice")
    if not agents:
        raise DataFileError(path, lines.get(P), f"{P}.agents", "no agents: define at least one")

    kind = d["type"]
    if kind == "distributed-edge" and not nodes:
        raise DataFileError(path, lines.get(f"{P}.type"), f"{P}.nodes", "a distributed-edge deployment needs nodes")
    if kind == "single-device" and nodes:
        raise DataFileError(path, lines.get(f"{P}.nodes"), f"{P}.nodes", "nodes belong to type: distributed-edge")

    r = check(d.get("router") or {}, ROUTER, path, lines, f"{P}.router")
    secondary = next((m.alias for m in models if m.secondary), None)
    router_model = r.get("model") or secondary or primary
    if router_model not in aliases:
        raise DataFileError(
            path, lines.get(f"{P}.router.model"), f"{P}.router.model", f"unknown model {router_model!r}"
        )
    default = r.get("default") or names[0]
    escalates = default == "fallback" or "escalate_below" in r
    if default not in names and default != "fallback":
        raise DataFileError(path, lines.get(f"{P}.router.default"), f"{P}.router.default", f"unknown agent {default!r}")
    if escalates and "fallback" not in d:
        where = f"{P}.router.{'default' if default == 'fallback' else 'escalate_below'}"
        raise DataFileError(path, lines.get(where), where, "escalating needs a `fallback:` endpoint")
    method = r.get("method") or "likelihood"
    if method == "keywords" and not any(a.keywords for a in agents):
        raise DataFileError(
            path, lines.get(f"{P}.router.method"), f"{P}.router.method", "method keywords needs agents' keywords"
        )

    fallback = None
    if "fallback" in d:
        fallback = check(d["fallback"], FALLBACK, path, lines, f"{P}.fallback")
    mon = check(d.get("monitoring") or {}, MONITORING, path, lines, f"{P}.monitoring")
    thresholds = check(mon.get("thresholds") or {}, THRESHOLDS, path, lines, f"{P}.monitoring.thresholds")
    coord = check(d.get("coordination") or {}, COORDINATION, path, lines, f"{P}.coordination")
    workspace = d.get("workspace")
    return Deployment(
        d.get("name") or path.stem,
        kind,
        path,
        models,
        agents,
        RouterSpec(router_model, method, default, float(r["escalate_below"]) if "escalate_below" in r else None),
        d.get("hardware"),
        d.get("description") or "",
        fallback,
        {k: float(v) for k, v in thresholds.items()},
        float(mon.get("interval_s") or 30.0),
        nodes,
        bool(coord.get("load_balancing", False)),
        coord.get("failover") or "automatic",
        (path.parent / workspace).resolve() if workspace else None,
    )


def _node_model(agent: str, nodes: list[NodeSpec]) -> str | None:
    for n in nodes:
        if agent in n.agents and n.models:
            return n.models[0]
    return None


def tool_source(name: str, deployment_file: Path) -> str | Path | None:
    """A built-in's name, or the Python file that defines the tool set (tools/NAME.py beside the file)."""
    if name in BUILTIN_TOOLS:
        return name
    if name.endswith(".py"):
        p = Path(name).expanduser()
        p = p if p.is_absolute() else deployment_file.parent / p
        return p if p.is_file() else None
    for folder in (deployment_file.parent / "tools", shipped_dir() / "tools"):  # yours, then the shipped ones
        if (folder / f"{name}.py").is_file():
            return folder / f"{name}.py"
    return None


def shipped_dir() -> Path:
    return paths.package_data("deployments")


def find(name_or_path: str) -> Path:
    """A deployment file by path, or a shipped example by name (`edge-assistant`)."""
    p = Path(name_or_path).expanduser()
    if p.is_file() or name_or_path.endswith((".yaml", ".yml")) or "/" in name_or_path:
        if not p.is_file():
            raise EdgeError(f"no such deployment file: {name_or_path}", code=ExitCode.NOT_FOUND)
        return p
    shipped = shipped_dir() / f"{name_or_path}.yaml"
    if shipped.is_file():
        return shipped
    known = ", ".join(sorted(x.stem for x in shipped_dir().glob("*.yaml"))) if shipped_dir().is_dir() else "none"
    raise EdgeError(f"no deployment named {name_or_path!r}", f"shipped examples: {known}", ExitCode.NOT_FOUND)


def load_deployment(name_or_path: str) -> Deployment:
    return load_file(find(name_or_path))
