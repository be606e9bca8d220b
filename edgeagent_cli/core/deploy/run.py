"""Running a deployment: route each request to an agent, run that agent's tool loop, escalate, fail over.

The orchestration is Microsoft Agent Framework's: a workflow (`WorkflowBuilder`) whose start
executor is the router and whose switch-case edge group sends each request to one specialist
executor; a specialist whose agent fails hands the request on along a conditional edge to the
escalation executor (the fallback endpoint). Every deployment agent is a framework `Agent` whose
chat client is edgeagent's (`EdgeChatClient`): a runtime (in-process with constrained tool calls,
or an endpoint, or the endpoints of the nodes that host the agent) with the agent's toolbox.

The seam: the framework's own function-invocation layer is not used. The client runs edgeagent's
tool loop (`agent.loop.Agent`) inside one `get_response`, because what makes a 135M model's calls
right lives there: the constrained plan needs the whole conversation at each step, a malformed call
goes back to the model once, a repeated call stops the loop, and every call passes the approval
policy and lands in the audit log. The client returns the loop's calls and results as the
framework's function_call/function_result contents, so the framework's transcript is complete.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import agent_framework as af
from agent_framework import WorkflowContext

from edgeagent_cli.core.agent.loop import Agent as LoopAgent
from edgeagent_cli.core.agent.loop import Outcome
from edgeagent_cli.core.agent.runtime import Reply, Runtime
from edgeagent_cli.core.agent.tools import Toolbox
from edgeagent_cli.core.deploy.route import ESCALATE, DeploymentRouter, Routed
from edgeagent_cli.core.deploy.spec import AgentSpec, Deployment, NodeSpec, tool_source
from edgeagent_cli.core.errors import EdgeError, ExitCode
from edgeagent_cli.core.results import Result

Emit = Callable[[str, dict[str, Any]], None]


@dataclass
class DeploymentTranscript(Result):
    """One request through a deployment: the router's choice, the agent's messages (each naming its
    agent and model), tool calls, handoffs and failovers, and the answer."""

    deployment: str
    question: str
    route: dict[str, Any]
    agent: str
    answer: str
    failed: str | None
    messages: list[dict[str, Any]]
    tool_calls: list[dict[str, Any]]
    handoffs: list[dict[str, Any]]
    events: list[dict[str, Any]]
    usage: dict[str, int]
    timings: dict[str, float]
    framework: dict[str, str]


# --- runtimes ------------------------------------------------------------------------------------
class FailoverRuntime:
    """The endpoints of the nodes that host one agent: each turn goes to the next healthy node (round
    robin when load balancing), and a node that cannot be reached hands the turn to the next one."""

    def __init__(
        self, nodes: list[NodeSpec], api_key: Callable[[NodeSpec], str | None], balance: bool, failover: bool
    ) -> None:
        self.nodes = nodes
        self.api_key = api_key
        self.balance = balance
        self.failover = failover
        self.name = "+".join(n.id for n in nodes)
        self.emit: Emit = lambda kind, data: None
        self._runtimes: dict[str, Any] = {}
        self._down: set[str] = set()
        self._turns = itertools.count()

    def _order(self) -> list[NodeSpec]:
        up = [n for n in self.nodes if n.id not in self._down] + [n for n in self.nodes if n.id in self._down]
        if self.balance and len(up) > 1:
            k = next(self._turns) % len([n for n in up if n.id not in self._down] or up)
            up = up[k:] + up[:k]
        return up

    def turn(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]], tool_choice: str = "auto",
             on_text: Any = None) -> Reply:  # fmt: skip
        import httpx

        from edgeagent_cli.core.agent.runtime.endpoint import EndpointRuntime

        tried: list[str] = []
        for node in self._order():
            try:
                rt = self._runtimes.get(node.id)
                if rt is None:
                    rt = self._runtimes[node.id] = EndpointRuntime(str(node.endpoint), self.api_key(node))
                reply = rt.turn(messages, tools, tool_choice, on_text)
            except (EdgeError, httpx.HTTPError) as e:
                if isinstance(e, EdgeError) and e.code != ExitCode.UNREACHABLE:
                    raise
                self._down.add(node.id)
                self._runtimes.pop(node.id, None)
                tried.append(node.id)
                reason = e.message if isinstance(e, EdgeError) else f"{type(e).__name__}"
                nxt = next((n.id for n in self._order() if n.id not in tried), None)
                if not self.failover or nxt is None:
                    raise EdgeError(
                        f"no node hosting this agent answered (tried {', '.join(tried)}): {reason}",
                        "start the nodes' servers, or check their endpoints",
                        ExitCode.UNREACHABLE,
                    ) from e
                self.emit("failover", {"from": node.id, "to": nxt, "reason": reason})
                continue
            self._down.discard(node.id)
            reply.model = f"{rt.model}@{node.id}"
            return reply
        raise EdgeError("the deployment has no node for this agent", code=ExitCode.USAGE)

    def close(self) -> None:
        for rt in self._runtimes.values():
            rt.close()


def build_toolbox(agent: AgentSpec, dep: Deployment, workspace: Path) -> Toolbox:
    """The agent's tools only: the built-ins it names, the Python files it names, its MCP servers."""
    from edgeagent_cli.core.agent.tools.builtin import builtin_tools
    from edgeagent_cli.core.agent.tools.pyfile import load_tools

    box = Toolbox()
    try:
        wanted = {t for t in agent.tools if tool_source(t, dep.path) == t}
        for t in builtin_tools(workspace) if wanted else []:
            if t.name in wanted:
                box.add(t)
        for ref in agent.tools:
            src = tool_source(ref, dep.path)
            if isinstance(src, Path):
                for tool in load_tools(src):
                    box.add(tool)
        for command in agent.mcp:
            from edgeagent_cli.core.agent.tools import mcp_stdio

            server, tools = mcp_stdio.connect(command)
            box.on_close(server.close)
            for tool in tools:
                box.add(tool)
    except ValueError as e:
        box.close()
        raise EdgeError(f"agent {agent.name}: {e}", "rename one of the tools", ExitCode.USAGE) from e
    except BaseException:
        box.close()
        raise
    return box


# --- the framework side --------------------------------------------------------------------------
# The framework warns that our chat client does not invoke functions: by design (see the module doc).
logging.getLogger("agent_framework").setLevel(logging.ERROR)


class EdgeChatClient(af.BaseChatClient):
    """A framework chat client whose model is an edgeagent runtime and whose tool loop is edgeagent's."""

    OTEL_PROVIDER_NAME = "edgeagent"

    def __init__(self, loop: LoopAgent, emit: Emit) -> None:
        super().__init__()
        self.loop = loop
        self.emit = emit
        self.outcome: Outcome | None = None

    def _inner_get_response(self, *, messages: Any, stream: bool, options: Any, **kwargs: Any) -> Any:
        if stream:
            raise NotImplementedError("a deployment agent runs its turn to the end")
        question = next((m.text for m in reversed(list(messages)) if str(m.role) == "user"), "")

        async def answer() -> af.ChatResponse:
            start = len(self.loop.messages)
            self.outcome = self.loop.ask(question, None, self.emit)
            said = [_framework_message(m) for m in self.loop.messages[start + 1 :]]
            return af.ChatResponse(
                messages=said or [af.Message(role="assistant", contents=[af.Content.from_text(text="")])],
                model=self.loop.runtime.name,
                additional_properties={"failed": self.outcome.failed},
            )

        return answer()


def _framework_message(m: dict[str, Any]) -> af.Message:
    """One edgeagent message as the framework's: text, function_call or function_result contents."""
    contents = []
    if m.get("content") and m["role"] != "tool":
        contents.append(af.Content.from_text(text=str(m["content"])))
    for c in m.get("tool_calls") or []:
        fn = c["function"]
        contents.append(af.Content.from_function_call(call_id=c["id"], name=fn["name"], arguments=fn["arguments"]))
    if m["role"] == "tool":
        contents.append(af.Content.from_function_result(call_id=m["tool_call_id"], result=m["content"]))
    role = "tool" if m["role"] == "tool" else m["role"]
    return af.Message(role=role, contents=contents, author_name=m.get("model"))


@dataclass
class Specialist:
    spec: AgentSpec
    loop: LoopAgent
    framework_agent: Any
    client: Any


@dataclass
class _Request:
    question: str
    routed: Routed


@dataclass
class _Handled:
    question: str
    agent: str
    outcome: Outcome
    messages: list[dict[str, Any]]
    escalated_from: str | None = None
    reason: str | None = None


@dataclass
class DeploymentSession:
    """A deployment opened for requests: the router, the specialists, the fallback and the workflow."""

    dep: Deployment
    router: DeploymentRouter
    specialists: dict[str, Specialist]
    fallback: Specialist | None
    toolboxes: list[Toolbox]
    runtimes: list[Any]
    events: list[dict[str, Any]] = field(default_factory=list)
    load_seconds: float = 0.0
    workflow: Any = None
    last_route: Routed | None = None

    def build(self) -> None:
        """The framework workflow: router -> switch-case -> specialists -> (failed) -> escalation."""
        router = RouterExecutor(self)
        executors = {name: SpecialistExecutor(self, s) for name, s in self.specialists.items()}
        escalation = EscalationExecutor(self) if self.fallback is not None else None
        cases: list[Any] = [af.Case(condition=_is_for(name), target=ex) for name, ex in executors.items()]
        if escalation is not None:
            cases.append(af.Case(condition=_is_for(ESCALATE), target=escalation))
        default = executors.get(self.dep.router.default) or next(iter(executors.values()))
        builder = af.WorkflowBuilder(start_executor=router, name=f"deployment:{self.dep.name}")
        builder.add_switch_case_edge_group(router, [*cases, af.Default(target=default)])
        if escalation is not None:
            for ex in executors.values():
                builder.add_edge(ex, escalation, condition=lambda h: bool(h.outcome.failed))
        self.workflow = builder.build()

    async def _run(self, s: Specialist, question: str) -> _Handled:
        start = len(s.loop.messages)
        await s.framework_agent.run(question)
        outcome = s.client.outcome or Outcome(failed="the agent did not run")
        msgs = [{**m, "agent": s.spec.name} for m in s.loop.messages[start:]]
        return _Handled(question, s.spec.name, outcome, msgs)

    def ask(self, question: str) -> DeploymentTranscript:
        t0 = time.perf_counter()
        self.events.clear()  # the list the runtimes' emit closures append to
        self.last_route = None
        starts = {name: len(s.loop.messages) for name, s in self.specialists.items()}
        try:
            result = asyncio.run(self.workflow.run(question))
        except (EdgeError, KeyboardInterrupt) as e:  # a refused approval, a dead endpoint, Ctrl-C
            partial = self._partial(question, starts, t0)
            if isinstance(e, KeyboardInterrupt):
                from edgeagent_cli.core.errors import Interrupted

                raise Interrupted(partial, "interrupted") from None
            e.data = e.data or partial
            raise
        outputs = result.get_outputs()
        r = self.last_route
        if not outputs or r is None:
            raise EdgeError(f"the deployment {self.dep.name} gave no output", code=ExitCode.FAILURE)
        h: _Handled = outputs[-1]
        handoffs = [{"from": "router", "to": r.agent, "reason": r.why}]
        if h.escalated_from:
            handoffs.append({"from": h.escalated_from, "to": h.agent, "reason": h.reason})
        return DeploymentTranscript(
            self.dep.name,
            question,
            {"agent": r.agent, "method": r.method, "scores": r.scores, "seconds": round(r.seconds, 4)},
            h.agent,
            h.outcome.answer,
            h.outcome.failed,
            h.messages,
            h.outcome.calls,
            handoffs,
            list(self.events),
            {"prompt_tokens": h.outcome.prompt_tokens, "completion_tokens": h.outcome.completion_tokens},
            {
                "load_s": round(self.load_seconds, 4),
                "route_s": round(r.seconds, 4),
                "total_s": round(time.perf_counter() - t0, 4),
                "model_s": round(h.outcome.model_seconds, 4),
                "tools_s": round(h.outcome.tool_seconds, 4),
            },
            {"name": "agent-framework-core", "version": af.__version__},
        )

    def _partial(self, question: str, starts: dict[str, int], t0: float) -> DeploymentTranscript:
        """What a request that stopped half way had done: the route, the agent's messages and calls."""
        r = self.last_route
        name = r.agent if r else ""
        s = self.specialists.get(name)
        msgs = [{**m, "agent": name} for m in s.loop.messages[starts[name] :]] if s else []
        calls = s.loop.current.calls if s else []
        route = {"agent": r.agent, "method": r.method, "scores": r.scores, "seconds": round(r.seconds, 4)} if r else {}
        return DeploymentTranscript(
            self.dep.name, question, route, name, "", "stopped", msgs, calls,
            [{"from": "router", "to": name, "reason": r.why}] if r else [], list(self.events), {},
            {"total_s": round(time.perf_counter() - t0, 4)}, {"name": "agent-framework-core", "version": af.__version__},
        )  # fmt: skip

    def close(self) -> None:
        for box in self.toolboxes:
            box.close()
        for rt in self.runtimes:
            rt.close()


class RouterExecutor(af.Executor):
    def __init__(self, session: DeploymentSession) -> None:
        super().__init__(id="router")
        self.session = session

    @af.handler
    async def route(self, question: str, ctx: WorkflowContext[_Request]) -> None:
        self.session.last_route = self.session.router.route(question)
        await ctx.send_message(_Request(question, self.session.last_route))


class SpecialistExecutor(af.Executor):
    def __init__(self, session: DeploymentSession, specialist: Specialist) -> None:
        super().__init__(id=specialist.spec.name)
        self.session = session
        self.specialist = specialist

    @af.handler
    async def answer(self, request: _Request, ctx: WorkflowContext[_Handled, _Handled]) -> None:
        handled = await self.session._run(self.specialist, request.question)
        if handled.outcome.failed and self.session.fallback is not None:
            handled.reason = handled.outcome.failed
            await ctx.send_message(handled)
        else:
            await ctx.yield_output(handled)


class EscalationExecutor(af.Executor):
    def __init__(self, session: DeploymentSession) -> None:
        super().__init__(id="escalation")
        self.session = session

    @af.handler
    async def take(self, request: _Request, ctx: WorkflowContext[Any, _Handled]) -> None:
        """The router escalated: the request goes straight to the fallback endpoint."""
        assert self.session.fallback is not None
        await ctx.yield_output(await self.session._run(self.session.fallback, request.question))

    @af.handler
    async def escalate(self, failed: _Handled, ctx: WorkflowContext[Any, _Handled]) -> None:
        assert self.session.fallback is not None
        handled = await self.session._run(self.session.fallback, failed.question)
        handled.escalated_from, handled.reason = failed.agent, failed.reason
        handled.messages = failed.messages + handled.messages
        await ctx.yield_output(handled)


def _is_for(name: str) -> Callable[[Any], bool]:
    return lambda request: request.routed.agent == name


# --- opening ---------------------------------------------------------------------------------------
@dataclass
class Where:
    """Where the agents' models run: in-process (paths by alias), a running deployment's server, or nodes."""

    local: dict[str, tuple[str, Path]] = field(default_factory=dict)  # alias -> (store name, path)
    base_url: str | None = None
    api_key: str | None = None


def open_session(
    dep: Deployment,
    where: Where,
    llama_kwargs: dict[str, Any],
    allow: list[str],
    ask: Any = None,
    workspace: Path | None = None,
    on_info: Callable[[str], None] | None = None,
) -> DeploymentSession:
    """Load what the deployment needs (each model once), build the tools and the framework workflow."""
    import os

    from edgeagent_cli.core.agent.runtime.endpoint import EndpointRuntime
    from edgeagent_cli.core.agent.runtime.local import LocalRuntime
    from edgeagent_cli.core.agent.tools.policy import Approver

    info = on_info or (lambda _: None)
    t0 = time.perf_counter()
    events: list[dict[str, Any]] = []

    def emit(kind: str, data: dict[str, Any]) -> None:
        events.append({"kind": kind, **data})
        if kind == "failover":
            info(f"~ node {data['from']} is unreachable ({data['reason']}); {data['to']} takes the request")

    loaded: dict[Path, Any] = {}
    toolboxes: list[Toolbox] = []
    runtimes: list[Any] = []

    def local(alias: str) -> Any:
        name, path = where.local[alias]
        if path not in loaded:
            info(f"loading {name} for {alias}")
            loaded[path] = LocalRuntime(path, llama_kwargs, name=name)
            runtimes.append(loaded[path])
        return loaded[path]

    def runtime_for(agent: AgentSpec) -> Runtime:
        if dep.type == "distributed-edge":
            silent = [n.id for n in dep.nodes_for(agent.name) if not n.endpoint]
            if silent:
                raise EdgeError(
                    f"node {silent[0]} has no endpoint", f"add `endpoint: URL` to it in {dep.path}", ExitCode.USAGE
                )

            def key(n: NodeSpec) -> str | None:
                return os.environ.get(n.api_key_env) if n.api_key_env else None

            rt: Any = FailoverRuntime(dep.nodes_for(agent.name), key, dep.load_balancing, dep.failover == "automatic")
            rt.emit = emit
            runtimes.append(rt)
            return rt  # type: ignore[no-any-return]
        if where.base_url:
            name = where.local[agent.model][0]
            rt = EndpointRuntime(where.base_url, where.api_key, name)
            runtimes.append(rt)
            return rt  # type: ignore[no-any-return]
        return local(agent.model)  # type: ignore[no-any-return]

    ws = workspace or dep.workspace or Path.cwd()
    session: DeploymentSession | None = None
    try:
        specialists = {}
        for a in dep.agents:
            box = build_toolbox(a, dep, ws)
            toolboxes.append(box)
            loop = LoopAgent(
                runtime_for(a), box, Approver(set(allow) | set(a.approve), ask), max_steps=a.max_steps, system=a.system
            )
            client = EdgeChatClient(loop, emit)
            fa = af.Agent(client, a.system or "", name=a.name, description=a.summary())
            specialists[a.name] = Specialist(a, loop, fa, client)
        fallback = None
        if dep.fallback:
            fb = dep.fallback
            key = os.environ.get(fb["api_key_env"]) if fb.get("api_key_env") else None
            rt = EndpointRuntime(fb["endpoint"], key, fb.get("model") or "default")
            runtimes.append(rt)
            box = Toolbox()
            toolboxes.append(box)
            loop = LoopAgent(rt, box, Approver(set(allow), ask))
            client = EdgeChatClient(loop, emit)
            fallback = Specialist(
                AgentSpec("fallback", "fallback", "the larger endpoint"), loop,
                af.Agent(client, "", name="fallback"), client,
            )  # fmt: skip
        scorer = llm = None
        if dep.router.method != "keywords":
            if dep.router.model not in where.local:
                raise EdgeError(
                    f"the router model {dep.router.model} is not stored",
                    f"`edgeagent deploy up {dep.path}` pulls it; or route with method: keywords",
                    ExitCode.NOT_FOUND,
                )
            router_rt = local(dep.router.model)
            scorer, llm = router_rt.scorer(), router_rt.llm
        session = DeploymentSession(dep, DeploymentRouter(dep, scorer, llm), specialists, fallback, toolboxes, runtimes)
        session.events = events  # the same list: emit appends, ask() clears
        session.build()
        session.load_seconds = time.perf_counter() - t0
    except BaseException:
        for box in toolboxes:
            box.close()
        for r in runtimes:
            r.close()
        raise
    return session


def where_for(dep: Deployment, stand_in: str | None, router_only: bool = False) -> Where:
    """A deployment that is up is reached through its server (the router still runs here); any other is
    loaded in-process from the store (every model must be stored: `deploy up` pulls, --stand-in replaces)."""
    from edgeagent_cli.core.deploy import lifecycle
    from edgeagent_cli.core.deploy.plan import resolve_stored

    local: dict[str, tuple[str, Path]] = {}
    missing = []
    for m in dep.models:
        found = resolve_stored(m.alias, m.quant, stand_in)
        if found:
            local[m.alias] = found
        else:
            missing.append(m.alias)
    server = None
    rec = lifecycle.record(dep.name) if dep.type == "single-device" else None
    if rec and rec.get("stand_in") == stand_in:  # up with the same models as asked for now
        server = lifecycle.running_server(dep.name)
    agents_here = dep.type == "single-device" and server is None and not router_only
    needed = {a.model for a in dep.agents} if agents_here else set()
    if dep.router.method != "keywords" and dep.router.model:
        needed.add(dep.router.model)
    absent = sorted(needed & set(missing))
    if absent:
        raise EdgeError(
            f"not stored: {', '.join(absent)}",
            f"`edgeagent deploy up {dep.path}` pulls them; --stand-in MODEL runs a stored model in their place",
            ExitCode.NOT_FOUND,
        )
    return Where(local, server["base_url"] if server else None, None)


def open_router(dep: Deployment, where: Where, llama_kwargs: dict[str, Any]) -> tuple[DeploymentRouter, Any]:
    """The router alone (for `eval route`): its model loaded in-process unless it routes by keywords."""
    from edgeagent_cli.core.agent.runtime.local import LocalRuntime

    if dep.router.method == "keywords":
        return DeploymentRouter(dep), None
    name, path = where.local[str(dep.router.model)]
    rt = LocalRuntime(path, llama_kwargs, name=name)
    return DeploymentRouter(dep, rt.scorer(), rt.llm), rt
