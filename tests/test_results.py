"""Typed results rendered in one place, and library failures mapped by exception type."""

from __future__ import annotations

import errno
import json

import pytest

from edgeagent_cli.cli.errors import translate
from edgeagent_cli.cli.output import Output, to_csv, to_markdown
from edgeagent_cli.core.bench.results import BenchResult
from edgeagent_cli.core.errors import ExitCode
from edgeagent_cli.core.models.catalog import Entry
from edgeagent_cli.core.models.gguf import GGUFError
from edgeagent_cli.core.models.pull import _pin_changes

ROW = {
    "model": "smol",
    "test": "tg128",
    "n_threads": 2,
    "avg_ts": 174.25,
    "stddev_ts": 1.5,
    "avg_ns": 734_000_000,
    "n_gpu_layers": 0,
    "samples_ns": [1, 2],
}


def test_a_result_is_one_json_document_with_the_schema_version_first(capsys: pytest.CaptureFixture[str]) -> None:
    Output(json_mode=True).emit(BenchResult(results=[ROW], endpoint=None))
    doc = json.loads(capsys.readouterr().out)
    assert next(iter(doc)) == "schema_version" and doc["results"][0]["avg_ts"] == 174.25


def test_csv_and_markdown_come_from_the_results_table(capsys: pytest.CaptureFixture[str]) -> None:
    table = BenchResult(results=[ROW]).table()
    csv_text = to_csv(table)
    assert csv_text.splitlines() == [
        "model,test,n_threads,avg_ts,stddev_ts,avg_ns,n_gpu_layers",
        "smol,tg128,2,174.25,1.5,734000000,0",
    ]
    md = to_markdown(table).splitlines()
    assert md[1] == "|---|---|---:|---:|---:|---:|---:|" and md[2].startswith("| smol | tg128 | 2 | 174.25")
    Output().emit(BenchResult(results=[ROW]), fmt="md")
    assert capsys.readouterr().out == to_markdown(table)


def test_network_errors_map_by_type_to_exit_5() -> None:
    import httpx

    mapped = translate(httpx.ConnectError("refused"))
    assert mapped is not None and mapped.code == ExitCode.UNREACHABLE
    mapped = translate(ConnectionResetError("reset"))
    assert mapped is not None and mapped.code == ExitCode.UNREACHABLE


def test_a_truncated_gguf_and_a_full_disk_are_named_and_a_bug_is_not_mapped() -> None:
    gguf = translate(GGUFError("truncated GGUF header"))
    assert gguf is not None and gguf.code == ExitCode.INTEGRITY
    full = translate(OSError(errno.ENOSPC, "No space left on device", "/models/x.gguf"))
    assert full is not None and "no space left" in full.message
    assert translate(ValueError("a bug")) is None


def test_a_file_re_uploaded_on_the_hub_is_flagged_against_the_catalogs_pin() -> None:
    entry = Entry("m", {"hf_repo": "o/m", "files": {"Q4_K_M": {"file": "m-Q4_K_M.gguf", "sha256": "a" * 64}}})
    same = [{"quant": "Q4_K_M", "file": "m-Q4_K_M.gguf", "files": [{"sha256": "a" * 64}]}]
    changed = [{"quant": "Q4_K_M", "file": "m-Q4_K_M.gguf", "files": [{"sha256": "b" * 64}]}]
    assert _pin_changes(entry, same) == []
    (warning,) = _pin_changes(entry, changed)
    assert "m-Q4_K_M.gguf" in warning and "repo changed" in warning
