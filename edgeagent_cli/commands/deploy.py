"""`edgeagent deploy`: a router model and specialist agents from one YAML file (check, up, status, down)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from edgeagent_cli.cli.options import CtxOpt, JsonOpt, MaxMemoryOpt, ProfileOpt, VerboseOpt
from edgeagent_cli.cli.output import Output, human_bytes

app = typer.Typer(
    help="Deployments: a router model and specialist agents from one YAML file (check, up, status, down).",
    no_args_is_help=True,
)

DeploymentArg = Annotated[str, typer.Argument(help="Deployment YAML file, or a shipped example's name.")]
StandInOpt = Annotated[
    str | None,
    typer.Option("--stand-in", help="Run this stored model in place of every model of the deployment."),
]
EngineOpt = Annotated[str, typer.Option("--engine", help="Serving engine: auto, llama-server or llama-cpp.")]


@app.command("check")
def check(
    deployment: DeploymentArg,
    stand_in: StandInOpt = None,
    max_memory: MaxMemoryOpt = None,
    ctx: CtxOpt = None,
    engine: EngineOpt = "auto",
    profile: ProfileOpt = None,
    verbose: VerboseOpt = False,
    json_: JsonOpt = False,
) -> None:
    """Resolve every model of a deployment (pulling nothing) and decide whether they fit together.

    Models in the store are estimated as serve runs them; others as `pull --dry-run` plans them.
    Exit 4 when the models that must be resident at once exceed the budget, with what would fit.

    Examples:

      edgeagent deploy check edge-assistant

      edgeagent deploy check deployments/edge-assistant.yaml --stand-in smollm2-135m --json

      edgeagent deploy check my-kiosk.yaml --max-memory 6GB
    """
    from edgeagent_cli.cli.settings import deployment_settings
    from edgeagent_cli.core.deploy import plan
    from edgeagent_cli.core.deploy.spec import load_deployment
    from edgeagent_cli.core.serve import engines

    out = Output(json_)
    dep = load_deployment(deployment)
    resolved = deployment_settings(out, dep, verbose, profile, context=ctx, max_memory=max_memory)
    chosen, _ = engines.pick(engine)
    result = plan.check(plan.plan(dep, resolved, chosen, stand_in, ctx))
    out.emit(result, lambda o: _plan_lines(o, result))


def _plan_lines(o: Output, p: Any) -> None:
    t = p.table()
    o.table(t.columns, t.rows)
    o.line(
        f"{p.deployment}: {human_bytes(p.total_bytes)} resident of {human_bytes(p.budget_bytes)} "
        f"({p.budget_source}): {p.verdict}; router {p.router['model']} ({p.router['method']}), "
        f"{len(p.agents)} agents"
    )
    if p.missing:
        o.line(f"to pull on `deploy up`: {', '.join(p.missing)}")


@app.command("up")
def up(
    deployment: DeploymentArg,
    stand_in: StandInOpt = None,
    max_memory: MaxMemoryOpt = None,
    ctx: CtxOpt = None,
    engine: EngineOpt = "auto",
    profile: ProfileOpt = None,
    verbose: VerboseOpt = False,
    json_: JsonOpt = False,
) -> None:
    """Check, pull what is missing (verified), and serve the deployment's models under one base URL.

    Examples:

      edgeagent deploy up edge-assistant

      edgeagent deploy up deployments/edge-assistant.yaml --stand-in smollm2-135m
    """
    from edgeagent_cli.cli.settings import deployment_settings
    from edgeagent_cli.core.deploy import lifecycle
    from edgeagent_cli.core.deploy.spec import load_deployment
    from edgeagent_cli.core.serve import engines

    out = Output(json_)
    dep = load_deployment(deployment)
    resolved = deployment_settings(out, dep, verbose, profile, context=ctx, max_memory=max_memory)
    chosen, note = engines.pick(engine)
    if note:
        out.warn(note)
    result = lifecycle.up(dep, resolved, chosen, stand_in, out.info, context=ctx)

    def human(o: Output) -> None:
        _plan_lines(o, result.plan)
        if result.server:
            o.line(f"{dep.name} is up at {result.server['base_url']} ({result.server['engine']})")
        for n in result.nodes:
            o.line(f"node {n['id']}: {'answering' if n['healthy'] else 'NOT ANSWERING'} at {n['endpoint']}")

    out.emit(result, human)


@app.command("status")
def status(json_: JsonOpt = False) -> None:
    """Deployments that are up: their server or nodes, and whether they answer.

    Examples:

      edgeagent deploy status

      edgeagent deploy status --json
    """
    from edgeagent_cli.core.deploy import lifecycle

    out = Output(json_)
    result = lifecycle.status()
    t = result.table()
    out.emit(result, lambda o: o.table(t.columns, t.rows) if result.deployments else o.line("no deployments up"))


@app.command("down")
def down(
    name: Annotated[str | None, typer.Argument(help="Deployment name (default: all).")] = None,
    json_: JsonOpt = False,
) -> None:
    """Stop a deployment's server and forget it.

    Examples:

      edgeagent deploy down edge-assistant

      edgeagent deploy down
    """
    from edgeagent_cli.core.deploy import lifecycle

    out = Output(json_)
    result = lifecycle.down(name)
    out.emit(result, lambda o: o.line(f"stopped: {', '.join(result.stopped) or 'nothing was up'}"))
