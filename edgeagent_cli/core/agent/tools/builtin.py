"""The built-in tools: current time, a calculator, workspace files and the machine's hardware.

File tools are confined to one workspace directory: a path may not be absolute outside it, may not
climb with `..`, and may not leave it through a symlink (the resolved path is checked, and writes
refuse a symlink as the final component).
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import Any

from edgeagent_cli.core.agent.tools import READ, WRITE, Tool, ToolError
from edgeagent_cli.core.agent.tools.calc import calculate

MAX_READ_BYTES = 64 * 1024  # a small model's context holds a few thousand tokens; more is noise
MAX_LIST = 200


def current_time(timezone: str = "") -> str:
    if timezone:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            now = datetime.now(ZoneInfo(timezone))
        except (ZoneInfoNotFoundError, ValueError) as e:
            raise ToolError(f"unknown time zone {timezone!r}; use an IANA name like Europe/Paris") from e
    else:
        now = datetime.now().astimezone()
    return now.strftime("%Y-%m-%d %H:%M:%S %Z (%A)")


def calculator(expression: str) -> str:
    # "17*23 = 391" rather than "391": a small model answering from the result repeats it whole.
    return f"{expression.strip().rstrip('=?,.;').strip()} = {calculate(expression)}"


class Workspace:
    def __init__(self, root: Path) -> None:
        self.root = root.expanduser().resolve()

    def resolve(self, path: str) -> Path:
        if not path or path in {".", "./"}:
            return self.root
        p = Path(path)
        if ".." in p.parts:
            raise ToolError(f"path {path!r} climbs out of the workspace with '..'")
        full = (p if p.is_absolute() else self.root / p).resolve()
        if full != self.root and not full.is_relative_to(self.root):
            raise ToolError(f"path {path!r} is outside the workspace {self.root}")
        return full

    def read_file(self, path: str) -> str:
        target = self.resolve(path)
        if not target.is_file():
            raise ToolError(f"no such file in the workspace: {path}")
        with target.open("rb") as f:
            data = f.read(MAX_READ_BYTES + 1)
        text = data[:MAX_READ_BYTES].decode("utf-8", errors="replace")
        return text + ("\n[truncated]" if len(data) > MAX_READ_BYTES else "")

    def list_dir(self, path: str = ".") -> str:
        target = self.resolve(path)
        if not target.is_dir():
            raise ToolError(f"no such directory in the workspace: {path}")
        entries = sorted(target.iterdir(), key=lambda e: e.name)[:MAX_LIST]
        return "\n".join(e.name + ("/" if e.is_dir() else "") for e in entries) or "(empty)"

    def write_file(self, path: str, content: str) -> str:
        target = self.resolve(path)
        if target == self.root or target.is_dir():
            raise ToolError(f"{path!r} is a directory")
        if not target.parent.is_dir():
            raise ToolError(f"no such directory in the workspace: {target.parent.relative_to(self.root)}")
        # O_NOFOLLOW: a symlink planted after the check above still cannot redirect the write.
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0), 0o644)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(content)
        return f"wrote {len(content.encode())} bytes to {target.relative_to(self.root)}"


def system_info() -> str:
    from edgeagent_cli.core.hardware.detect import detect

    s = detect()
    cpu, mem = s.cpu, s.memory
    lines = [
        f"CPU: {cpu.get('model')} ({cpu.get('physical_cores')} cores, {cpu.get('logical_cores')} threads)",
        f"RAM: {mem.get('total_bytes', 0) / 2**30:.1f} GiB total, "
        f"{mem.get('available_bytes', 0) / 2**30:.1f} GiB available",
    ]
    for g in s.gpus:
        lines.append(f"GPU: {g.get('name')} ({(g.get('vram_total_bytes') or 0) / 2**30:.1f} GiB)")
    lines.append(f"Recommended profile: {s.recommendation.profile}")
    return "\n".join(lines)


def _obj(props: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {"type": "object", "properties": props, "required": required}


def builtin_tools(workspace: Path) -> list[Tool]:
    ws = Workspace(workspace)
    path = {"type": "string", "description": "Path relative to the workspace."}
    return [
        Tool(
            "calculator",
            "Calculate the value of an arithmetic expression, e.g. 17*23 or sqrt(2)/3. Use it for any math question.",
            _obj(
                {"expression": {"type": "string", "description": "The arithmetic expression, e.g. 17*23."}},
                ["expression"],
            ),
            calculator,
        ),
        Tool(
            "current_time",
            "Get the current date and time, optionally in a time zone.",
            _obj({"timezone": {"type": "string", "description": "IANA time zone name; leave out for local time."}}, []),
            current_time,
        ),
        Tool("read_file", "Read a text file from the workspace.", _obj({"path": path}, ["path"]), ws.read_file),
        Tool("list_dir", "List the files in a workspace directory.", _obj({"path": path}, []), ws.list_dir),
        Tool(
            "write_file",
            "Write text to a file in the workspace, replacing it.",
            _obj(
                {"path": path, "content": {"type": "string", "description": "The text to write."}}, ["path", "content"]
            ),
            ws.write_file,
            risk=WRITE,
        ),
        Tool(
            "system_info",
            "Describe this machine's hardware: CPU, memory (RAM), GPUs.",
            _obj({}, []),
            system_info,
            risk=READ,
        ),
    ]
