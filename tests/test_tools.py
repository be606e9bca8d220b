"""Built-in tools, Python-file tools, approval and the audit log (no model needed)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from edgeagent_cli.core.agent.tools import WRITE, Toolbox, ToolError
from edgeagent_cli.core.agent.tools.builtin import Workspace, builtin_tools, calculator
from edgeagent_cli.core.agent.tools.calc import calculate
from edgeagent_cli.core.agent.tools.policy import AUTO, FLAG, USER, Approver, Declined, audit, audit_path
from edgeagent_cli.core.agent.tools.pyfile import load_tools
from edgeagent_cli.core.errors import EdgeError


@pytest.mark.parametrize(
    ("expr", "value"),
    [
        ("17*23", 391),
        ("2^10", 1024),
        ("(1+2)*3/4", 2.25),
        ("sqrt(16)", 4),
        ("-3 + 2", -1),
        ("10 // 3", 3),
        ("17*23,", 391),
        ("2*pi", 6.283185307179586),
    ],
)
def test_calculator_computes_arithmetic(expr: str, value: float) -> None:
    assert calculate(expr) == value


@pytest.mark.parametrize(
    "expr",
    [
        "__import__('os').system('true')",
        "open('/etc/passwd')",
        "x + 1",
        "'a' * 3",
        "(1).__class__",
        "9**9**9",
        "factorial(100000)",
        "[1, 2]",
        "lambda: 1",
    ],
)
def test_calculator_refuses_anything_but_arithmetic(expr: str) -> None:
    with pytest.raises(ToolError):
        calculate(expr)


def test_calculator_tool_echoes_the_expression_with_the_value() -> None:
    assert calculator("17*23") == "17*23 = 391"
    with pytest.raises(ToolError, match="division by zero"):
        calculator("1/0")


def test_workspace_confines_paths(tmp_path: Path) -> None:
    ws_dir = tmp_path / "ws"
    ws_dir.mkdir()
    (tmp_path / "secret.txt").write_text("secret")
    (ws_dir / "link").symlink_to(tmp_path / "secret.txt")
    (ws_dir / "dirlink").symlink_to(tmp_path)
    ws = Workspace(ws_dir)
    for bad in ["../secret.txt", str(tmp_path / "secret.txt"), "link", "dirlink/secret.txt", "/etc/passwd"]:
        with pytest.raises(ToolError):
            ws.read_file(bad)
        with pytest.raises(ToolError):
            ws.write_file(bad, "x")
    assert (tmp_path / "secret.txt").read_text() == "secret"
    assert ws.write_file("notes.txt", "hello") == "wrote 5 bytes to notes.txt"
    assert ws.read_file("notes.txt") == "hello"
    assert "notes.txt" in ws.list_dir(".").splitlines()


def test_builtins_mark_write_file_as_needing_approval(tmp_path: Path) -> None:
    box = Toolbox(builtin_tools(tmp_path))
    assert box.names() == ["calculator", "current_time", "read_file", "list_dir", "write_file", "system_info"]
    assert box.get("write_file").risk == WRITE
    assert {t.name for t in box if t.risk != "read"} == {"write_file"}
    assert "RAM" in box.get("system_info")({})


def test_approval_without_a_terminal_names_the_flag(tmp_path: Path) -> None:
    write = Toolbox(builtin_tools(tmp_path)).get("write_file")
    calc = Toolbox(builtin_tools(tmp_path)).get("calculator")
    assert Approver().approve(calc, {}) == AUTO
    with pytest.raises(EdgeError) as e:
        Approver().approve(write, {"path": "a", "content": "b"})
    assert e.value.hint == "rerun with --allow-tool write_file"
    assert Approver({"write_file"}).approve(write, {}) == FLAG
    assert Approver(ask=lambda t, a: True).approve(write, {}) == USER
    with pytest.raises(Declined):
        Approver(ask=lambda t, a: False).approve(write, {})


def test_audit_log_appends_one_json_line_per_call() -> None:
    audit("calculator", "builtin", {"expression": "1+1"}, AUTO, "1+1 = 2", None, 0.001)
    audit("write_file", "builtin", {"path": "../x"}, FLAG, None, "outside", 0.0)
    lines = [json.loads(line) for line in audit_path().read_text().splitlines()]
    assert [x["tool"] for x in lines] == ["calculator", "write_file"]
    assert lines[0]["result_bytes"] == 7 and lines[0]["approved"] == "auto" and lines[0]["ok"]
    assert lines[1]["ok"] is False and lines[1]["error"] == "outside"
    assert os.stat(audit_path()).st_mode & 0o077 == 0


def test_python_file_functions_become_tool_schemas(tmp_path: Path) -> None:
    f = tmp_path / "my_tools.py"
    f.write_text('''
from typing import Literal

def weather(city: str, days: int = 1, unit: Literal["C", "F"] = "C") -> str:
    """Forecast for a city.

    Args:
        city: The city name.
        days: How many days ahead.
    """
    return f"{city}: sunny for {days} days ({unit})"

def shout(text: str) -> str:
    """Upper-case some text."""
    return text.upper()
shout.risk = "read"

def _private(x: int) -> int:
    return x
''')
    tools = {t.name: t for t in load_tools(f)}
    assert set(tools) == {"weather", "shout"}
    w = tools["weather"]
    assert w.description == "Forecast for a city."
    assert w.parameters["required"] == ["city"]
    assert w.parameters["properties"]["days"] == {"type": "integer", "description": "How many days ahead."}
    assert w.parameters["properties"]["unit"] == {"enum": ["C", "F"]}
    assert w.risk == WRITE and tools["shout"].risk == "read"
    assert w({"city": "Paris", "days": 2}) == "Paris: sunny for 2 days (C)"


def test_python_tools_file_errors_are_one_clear_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("def f(x):\n    return x\nraise RuntimeError('boom')\n")
    with pytest.raises(EdgeError, match="RuntimeError: boom"):
        load_tools(bad)
    with pytest.raises(EdgeError, match="no such tools file"):
        load_tools(tmp_path / "missing.py")
