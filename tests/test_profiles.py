from __future__ import annotations

from pathlib import Path

from edgeagent_cli.core import profiles
from tests.conftest import cli, cli_json, one_line_error

GIB = 1024**3


def test_shipped_profiles_all_validate() -> None:
    names = {p.name: p.kind for p in profiles.all_profiles()}
    assert {"mobile", "edge", "desktop", "workstation", "server"} <= names.keys()
    assert {names[n] for n in ("development", "staging", "production")} == {"deployment"}


def test_device_class_follows_the_hardware() -> None:
    h100 = [{"vram_total_bytes": 80 * GIB, "vram_free_bytes": 79 * GIB}]
    rtx = [{"vram_total_bytes": 12 * GIB, "vram_free_bytes": 11 * GIB}]
    assert profiles.pick_device(2 * GIB, []).name == "mobile"
    assert profiles.pick_device(4 * GIB, []).name == "edge"
    assert profiles.pick_device(16 * GIB, []).name == "desktop"
    assert profiles.pick_device(32 * GIB, rtx).name == "workstation"
    assert profiles.pick_device(256 * GIB, h100).name == "server"


def test_profiles_ls_and_show_json() -> None:
    listed = cli_json("profiles", "ls")["profiles"]
    assert any(p["name"] == "edge" and p["shipped"] for p in listed)
    shown = cli_json("profiles", "show", "production")
    assert shown["profile"]["kv_cache_type"] == "q8_0" and shown["profile"]["prefix_caching"] is True


def test_user_profile_overrides_shipped(hermetic: Path) -> None:
    (hermetic / "profiles").mkdir(parents=True)
    (hermetic / "profiles" / "edge.yaml").write_text("name: edge\nkind: device\ncontext: 1024\n")
    shown = cli_json("profiles", "show", "edge")
    assert shown["profile"]["context"] == 1024


def test_malformed_profile_names_file_line_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "kiosk.yaml"
    bad.write_text("name: kiosk\nkind: device\ncontext: 4096\nmemory_headroom_mb: lots\n")
    done = cli("profiles", "show", str(bad))
    assert done.returncode == 2
    line = one_line_error(done)
    assert f"{bad}:4: memory_headroom_mb" in line
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: x\nkind: [device\n")
    done = cli("profiles", "show", str(broken))
    assert done.returncode == 2 and f"{broken}:" in one_line_error(done)
    typo = tmp_path / "typo.yaml"
    typo.write_text("name: t\nkind: device\ncontxt: 10\n")
    done = cli("profiles", "show", str(typo))
    assert done.returncode == 2 and f"{typo}:3: contxt: unknown field" in one_line_error(done)
