from __future__ import annotations

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
