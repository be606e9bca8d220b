from __future__ import annotations

import shutil
import subprocess

import pytest

from edgeagent_cli.cli.completion import SHELLS, generate
from tests.conftest import REPO


def test_shipped_completions_match_the_app() -> None:
    """Fails when a command or flag changes without `make completions`."""
    for name, text in generate().items():
        shipped = (REPO / "completions" / name).read_text(encoding="utf-8")
        assert shipped == text, f"completions/{name} drifted from the app: run `make completions`"


def test_bash_completion_offers_subcommands_and_flags() -> None:
    if shutil.which("bash") is None:
        pytest.skip("no bash")
    script = REPO / "completions" / SHELLS["bash"]
    probe = (
        f'source {script}; COMP_WORDS=(edgeagent models i); COMP_CWORD=2; _edgeagent; echo "${{COMPREPLY[@]}}";'
        'COMP_WORDS=(edgeagent pull x --dr); COMP_CWORD=3; _edgeagent; echo "${COMPREPLY[@]}"'
    )
    out = subprocess.run(["bash", "-c", probe], capture_output=True, text=True, check=True).stdout.splitlines()
    assert out[0] == "import"
    assert out[1] == "--dry-run"
