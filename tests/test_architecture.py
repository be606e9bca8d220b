"""The layout is the architecture: these tests fail when an import crosses a layer or closes a cycle.

Layers: `app` (the composition root) -> `commands` (one thin module per noun) -> `cli` (shared CLI
modules: options, output, errors, REPL, completion) -> `core` (the domain). The domain never imports
a command, the CLI layer, Typer or Rich; no command imports another; and no module imports itself
back through others, whether at the top or inside a function.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "edgeagent_cli"
UI_LIBRARIES = ("typer", "rich", "click")


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every module this file imports, at the top or in a function (`from a import b` may name module a.b)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {
        name: {m for m in _imports(path) if m in modules or m.split(".")[0] in UI_LIBRARIES}
        for name, path in modules.items()
    }


def _internal(targets: set[str]) -> set[str]:
    return {t for t in targets if t.startswith("edgeagent_cli")}


def test_the_domain_imports_no_command_no_cli_module_and_no_ui_library() -> None:
    bad = {
        (mod, t)
        for mod, targets in _graph().items()
        if mod.startswith("edgeagent_cli.core")
        for t in targets
        if t.startswith(("edgeagent_cli.commands", "edgeagent_cli.cli", "edgeagent_cli.app"))
        or t.split(".")[0] in UI_LIBRARIES
    }
    assert not bad, f"domain modules reaching up a layer: {sorted(bad)}"


def test_commands_import_only_the_domain_and_shared_cli_modules() -> None:
    bad = {
        (mod, t)
        for mod, targets in _graph().items()
        if mod.startswith("edgeagent_cli.commands.")
        for t in _internal(targets)
        if not t.startswith(("edgeagent_cli.core", "edgeagent_cli.cli")) and t != "edgeagent_cli"
    }
    assert not bad, f"commands importing other commands or the root: {sorted(bad)}"


def test_the_shared_cli_modules_import_no_command() -> None:
    bad = {
        (mod, t)
        for mod, targets in _graph().items()
        if mod.startswith("edgeagent_cli.cli")
        for t in _internal(targets)
        if t.startswith("edgeagent_cli.commands")
    }
    assert not bad, f"shared CLI modules importing a command: {sorted(bad)}"


def test_there_are_no_import_cycles() -> None:
    graph = {mod: _internal(targets) & set(_graphs_modules()) for mod, targets in _graph().items()}
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(mod: str, path: list[str]) -> None:
        state[mod] = 1
        for nxt in sorted(graph.get(mod, ())):
            if nxt == mod or _is_package_of(nxt, mod):
                continue  # a module's own package __init__ runs first anyway
            if state.get(nxt) == 1:
                cycles.append(path[path.index(nxt) :] + [nxt])
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[mod] = 2

    for mod in sorted(graph):
        if mod not in state:
            visit(mod, [mod])
    assert not cycles, f"import cycles: {cycles}"


def _graphs_modules() -> list[str]:
    return [_module_name(p) for p in PACKAGE.rglob("*.py")]


def _is_package_of(package: str, mod: str) -> bool:
    return mod.startswith(package + ".")
