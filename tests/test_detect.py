from __future__ import annotations

from tests.conftest import cli, cli_json

KEYS = {"schema_version", "cpu", "memory", "gpus", "npus", "disk", "os", "llama_cpp", "recommendation"}


def test_detect_json_has_the_contract_keys() -> None:
    doc = cli_json("detect")
    assert KEYS <= doc.keys()
    assert {"model", "arch", "physical_cores", "logical_cores", "features"} <= doc["cpu"].keys()
    assert doc["memory"]["total_bytes"] > doc["memory"]["available_bytes"] > 0
    assert {"version", "system_info", "gpu_offload", "warnings"} <= doc["llama_cpp"].keys()
    rec = doc["recommendation"]
    assert rec["profile"] in {"mobile", "edge", "desktop", "workstation", "server"}
    assert 0 < rec["memory_budget_bytes"] < doc["memory"]["total_bytes"]
    assert rec["threads"] >= 1


def test_detect_table_is_plain_when_piped() -> None:
    done = cli("detect")
    assert done.returncode == 0
    assert "Recommendation" in done.stdout and "RAM" in done.stdout
    assert "\x1b[" not in done.stdout
