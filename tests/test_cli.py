from __future__ import annotations

import re
import subprocess
import sys

from tests.conftest import cli, one_line_error

# plus the domain beyond its error types: commands import it inside the function that runs
HEAVY = (
    "llama_cpp",
    "huggingface_hub",
    "httpx",
    "rich.progress",
    "yaml",
    "numpy",
    "importlib.metadata",
    "edgeagent_cli.core.settings",
)


def test_help_imports_no_heavy_module() -> None:
    code = (
        "import sys\n"
        "sys.argv = ['edgeagent', '--help']\n"
        "from edgeagent_cli.app import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        f"loaded = [m for m in {HEAVY!r} if m in sys.modules]\n"
        "sys.stderr.write('LOADED=' + ','.join(loaded))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "Usage" in done.stdout
    assert done.stderr.strip().endswith("LOADED="), done.stderr


def test_python_m_behaves_like_the_script() -> None:
    done = cli("--version")
    assert done.returncode == 0 and done.stdout.startswith("edgeagent ")


def test_unknown_command_is_a_usage_error() -> None:
    done = cli("frobnicate")
    assert done.returncode == 2
    assert "Traceback" not in done.stderr


def test_unknown_option_with_json_still_prints_one_document() -> None:
    import json

    done = cli("models", "ls", "--bogus", "--json")
    assert done.returncode == 2
    assert json.loads(done.stdout)["error"]["code"] == 2


def test_every_command_has_json_flag() -> None:
    from edgeagent_cli.cli.completion import _nodes, tree

    leaves = [n for n in _nodes(tree()) if not n.children and n.path]
    missing = [" ".join(n.path) for n in leaves if "--json" not in [o[0] for o in n.options]]
    assert not missing, f"commands without --json: {missing}"


def test_unknown_model_name_exits_3_with_one_line() -> None:
    done = cli("models", "show", "no-such-model")
    assert done.returncode == 3
    assert "no-such-model" in one_line_error(done)


def test_every_help_example_parses() -> None:
    """Each `edgeagent ...` line of a command's Examples names options that exist, with values of their
    type (`-c simple_python` once stood for --category where -c is --ctx)."""
    import shlex

    import typer

    from edgeagent_cli.app import app

    def commands(cmd: object, path: list[str]) -> list[tuple[list[str], object]]:
        subs = getattr(cmd, "commands", None)
        if subs is None:
            return [(path, cmd)]
        return [found for name, sub in subs.items() for found in commands(sub, [*path, name])]

    checked, wrong = 0, []
    for path, cmd in commands(typer.main.get_command(app), []):
        start = " ".join(["edgeagent", *path])
        for line in (getattr(cmd, "help", None) or "").splitlines():
            line = line.strip()
            if line != start and not line.startswith(start + " "):
                continue
            words = shlex.split(re.split(r"\s+\(|\s+>|\s+\||\s+2>", line)[0], comments=True)[1 + len(path) :]
            checked += 1
            try:
                cmd.make_context(" ".join(path), words)  # type: ignore[attr-defined]
            except SystemExit:
                pass
            except Exception as e:  # noqa: BLE001 - any refusal is the finding
                wrong.append(f"{line}: {e}")
    assert checked >= 40, checked
    assert not wrong, wrong
