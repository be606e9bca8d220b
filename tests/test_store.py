from __future__ import annotations

import json
import multiprocessing
import shutil
from pathlib import Path

from edgeagent_cli.core.models.store import Store
from tests.conftest import SMOLLM2_SHA256, cli, cli_json, one_line_error


def _store_snapshot(home: Path) -> list[str]:
    root = home / "models"
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")) if root.exists() else []


def test_import_ls_show_verify_rm_on_the_real_model(smollm2: Path, hermetic: Path) -> None:
    doc = cli_json("models", "import", str(smollm2), "--name", "smol")
    assert doc["model"]["sha256"] == SMOLLM2_SHA256
    listed = cli_json("models", "ls")["models"]
    assert [m["name"] for m in listed] == ["smol"] and listed[0]["quant"] == "Q4_1"
    shown = cli_json("models", "show", "smol")
    assert (shown["n_layers"], shown["n_kv_heads"], shown["head_dim"]) == (30, 3, 64)
    assert shown["chat_template"] is True and shown["template_tools"] is False
    assert cli("models", "verify", "smol").returncode == 0
    done = cli("models", "rm", "smol")  # no terminal, no --yes: refused, names the flag
    assert done.returncode == 2 and "--yes" in done.stderr
    assert cli("models", "rm", "smol", "--yes").returncode == 0
    assert cli_json("models", "ls")["models"] == []
    assert not any(p.suffix == ".gguf" for p in (hermetic / "models").rglob("*"))


def test_verify_exits_6_after_one_flipped_byte(smollm2: Path) -> None:
    cli_json("models", "import", str(smollm2), "--name", "smol")
    stored = Path(cli_json("models", "show", "smol")["path"])
    with stored.open("r+b") as f:
        f.seek(50_000_000)
        byte = f.read(1)
        f.seek(50_000_000)
        f.write(bytes([byte[0] ^ 0xFF]))
    done = cli("models", "verify", "smol", "--json")
    assert done.returncode == 6
    assert json.loads(done.stdout)["results"][0]["ok"] is False


def test_link_registers_without_copying(smollm2: Path, hermetic: Path) -> None:
    doc = cli_json("models", "import", str(smollm2), "--link")
    assert doc["model"]["linked"] is True and doc["model"]["path"] == str(smollm2.resolve())
    assert cli("models", "rm", doc["model"]["name"], "--yes").returncode == 0
    assert smollm2.exists(), "removing a linked model must leave the user's file alone"


def test_bad_input_one_line_each_and_store_unchanged(smollm2: Path, hermetic: Path, tmp_path: Path) -> None:
    cli_json("models", "import", str(smollm2), "--name", "keep")
    before = _store_snapshot(hermetic)
    text = tmp_path / "notes.gguf"
    text.write_text("hello, I am not a model\n")
    truncated = tmp_path / "cut.gguf"
    with smollm2.open("rb") as f:
        truncated.write_bytes(f.read(100_000))
    cases = [
        (("models", "import", str(tmp_path / "missing.gguf")), 3),
        (("models", "import", str(text)), 6),
        (("models", "import", str(truncated)), 6),
        (("models", "show", "nope"), 3),
        (("models", "verify", "nope"), 3),
        (("models", "rm", "nope", "--yes"), 3),
    ]
    for args, code in cases:
        done = cli(*args)
        assert done.returncode == code, (args, done.stderr)
        one_line_error(done)
    assert _store_snapshot(hermetic) == before


def _import(args: tuple[str, str, str]) -> str:
    src, name, home = args
    import os

    os.environ["EDGEAGENT_HOME"] = home
    return Store().add(Path(src), name=name).name


def test_concurrent_imports_keep_the_index_whole(smollm2: Path, hermetic: Path, tmp_path: Path) -> None:
    copies = []
    for i in range(4):
        p = tmp_path / f"m{i}.gguf"
        shutil.copy(smollm2, p)
        copies.append((str(p), f"m{i}", str(hermetic)))
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        names = pool.map(_import, copies)
    listed = {m["name"] for m in cli_json("models", "ls")["models"]}
    assert listed == set(names) == {"m0", "m1", "m2", "m3"}
