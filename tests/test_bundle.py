"""Bundles: create on a connected machine, install where nothing can be reached, run from it; a
damaged bundle registers nothing; an interrupted install resumes; installing twice changes nothing."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest

from tests.conftest import cli, cli_json, one_line_error

OFFLINE = {"HF_HUB_OFFLINE": "1", "HF_ENDPOINT": "http://127.0.0.1:9", "PIP_INDEX_URL": "http://127.0.0.1:9/simple",
           "PIP_NO_INDEX": "1"}  # fmt: skip


@pytest.fixture
def bundled(smollm2: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cli_json("models", "import", str(smollm2), "--name", "smollm2-135m")
    profiles = Path(str(tmp_path / "edgeagent-home" / "profiles"))
    profiles.mkdir(parents=True)
    (profiles / "kiosk.yaml").write_text("name: kiosk\nkind: device\ncontext: 2048\nrank: 1\n")
    out = tmp_path / "kiosk.tar"
    doc = cli_json("bundle", "create", str(out), "smollm2-135m")
    assert doc["models"] == ["smollm2-135m"] and out.stat().st_size == doc["size_bytes"]
    assert {m["kind"] for m in doc["members"]} == {"lock", "model", "profile"}
    monkeypatch.setenv("EDGEAGENT_HOME", str(tmp_path / "target"))  # the machine with no network
    return out


@pytest.mark.slow
def test_a_bundle_installs_offline_and_the_model_runs_from_it(bundled: Path, tmp_path: Path) -> None:
    doc = cli_json("bundle", "install", str(bundled), env=OFFLINE)
    assert doc["models"] == [{"name": "smollm2-135m", "status": "registered"}]
    assert doc["files"] == [str(tmp_path / "target" / "profiles" / "kiosk.yaml")]
    assert cli_json("models", "verify", "smollm2-135m", env=OFFLINE)["ok"]
    assert cli_json("profiles", "show", "kiosk", env=OFFLINE)["profile"]["context"] == 2048
    bench = cli_json("bench", "smollm2-135m", "-r", "1", "-p", "32", "-n", "8", env=OFFLINE, timeout=300)
    assert bench["results"][0]["avg_ts"] > 0
    chat = cli_json("chat", "smollm2-135m", "-p", "What is 17*23?", env=OFFLINE, timeout=300)
    assert "391" in chat["answer"]
    again = cli_json("bundle", "install", str(bundled), env=OFFLINE)  # installing twice changes nothing
    assert again["models"] == [{"name": "smollm2-135m", "status": "present"}]
    assert len(cli_json("models", "ls")["models"]) == 1


def test_one_flipped_byte_is_refused_and_nothing_is_registered(bundled: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.tar"
    data = bytearray(bundled.read_bytes())
    data[50_000_000] ^= 1
    bad.write_bytes(bytes(data))
    done = cli("bundle", "install", str(bad), env=OFFLINE)
    assert done.returncode == 6 and "is damaged" in done.stderr.splitlines()[-1]
    assert cli_json("models", "ls")["models"] == []
    assert not (tmp_path / "target" / "profiles").exists()


def test_a_cut_short_bundle_is_refused_then_the_whole_one_resumes(bundled: Path, tmp_path: Path) -> None:
    short = tmp_path / "short.tar"
    short.write_bytes(bundled.read_bytes()[: bundled.stat().st_size // 2])
    done = cli("bundle", "install", str(short), env=OFFLINE)
    assert done.returncode == 6 and "Traceback" not in done.stderr
    assert cli_json("models", "ls")["models"] == []
    whole = cli("bundle", "install", str(bundled), "--json", env=OFFLINE)
    assert whole.returncode == 0 and json.loads(whole.stdout)["models"][0]["status"] == "registered"


def test_max_size_is_checked_before_anything_is_written(smollm2: Path, tmp_path: Path) -> None:
    cli_json("models", "import", str(smollm2), "--name", "smollm2-135m")
    out = tmp_path / "small.tar"
    done = cli("bundle", "create", str(out), "--max-size", "50MB")
    assert done.returncode == 4 and "over --max-size" in one_line_error(done)
    assert not out.exists() and not out.with_name("small.tar.part").exists()


def test_a_member_outside_the_manifest_is_refused(bundled: Path, tmp_path: Path) -> None:
    evil = tmp_path / "evil.tar"
    with tarfile.open(bundled) as src, tarfile.open(evil, "w") as dst:
        for ti in src:
            dst.addfile(ti, src.extractfile(ti))
        extra = tmp_path / "x.txt"
        extra.write_text("not listed")
        dst.add(str(extra), arcname="../../escape.txt")
    done = cli("bundle", "install", str(evil), env=OFFLINE)
    assert done.returncode == 6 and "not in its manifest" in done.stderr.splitlines()[-1]
    assert cli_json("models", "ls")["models"] == []


@pytest.mark.slow
def test_with_wheels_edgeagent_installs_from_the_bundle_with_no_index(smollm2: Path, tmp_path: Path) -> None:
    import subprocess
    import sys

    cli_json("models", "import", str(smollm2), "--name", "smollm2-135m")
    out = tmp_path / "full.tar"
    doc = cli_json("bundle", "create", str(out), "--with-wheels", timeout=600)
    wheels = {m["path"].split("/")[1].split("-")[0] for m in doc["members"] if m["kind"] == "wheel"}
    assert {"edgeagent_cli", "llama_cpp_python", "typer", "huggingface_hub", "agent_framework_core"} <= wheels
    with tarfile.open(out) as tar:
        tar.extractall(tmp_path / "x", members=[m for m in tar if m.name.startswith("wheels/")])  # wheels we wrote
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    env = {"PATH": "/usr/bin:/bin", "PIP_CONFIG_FILE": "/dev/null", "HOME": str(tmp_path)}  # no index, no mirror
    done = subprocess.run([str(venv / "bin/pip"), "install", "-q", "--no-index", "--find-links",
                           str(tmp_path / "x/wheels"), "edgeagent-cli"], env=env, capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    version = subprocess.run([str(venv / "bin/edgeagent"), "--version"], capture_output=True, text=True, env=env)
    assert version.stdout.startswith("edgeagent ")
