"""The composition root: every command group registered here, one line each, and `main()`."""

from __future__ import annotations

import typer

from edgeagent_cli.commands import (
    bench,
    bundle,
    chat,
    deploy,
    detect,
    eval,
    models,
    monitor,
    plan,
    profiles,
    pull,
    serve,
)

app = typer.Typer(
    name="edgeagent",
    help="Edge model ops: detect the hardware, pull a model that fits, bench it, chat with it as a tool-using agent.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)

app.command("detect")(detect.detect)
app.command("pull")(pull.pull)
app.command("plan")(plan.plan)
app.command("bench")(bench.bench)
app.command("chat")(chat.chat)
app.command("monitor")(monitor.monitor)
app.add_typer(models.app, name="models")
app.add_typer(profiles.app, name="profiles")
app.add_typer(eval.app, name="eval")
app.add_typer(serve.app, name="serve")
app.add_typer(deploy.app, name="deploy")
app.add_typer(bundle.app, name="bundle")


@app.callback(invoke_without_command=True)
def _root(
    version: bool = typer.Option(False, "--version", help="Print the version and exit.", is_eager=True),
) -> None:
    if version:
        from edgeagent_cli import __version__

        typer.echo(f"edgeagent {__version__}")
        raise typer.Exit()


def main() -> None:
    """Run the app; turn every failure into one line on stderr and the contract's exit code."""
    import sys

    from edgeagent_cli.cli.errors import run

    sys.exit(run(app, sys.argv[1:]))
