"""Arithmetic for the calculator tool, parsed with `ast` and evaluated node by node: never `eval`.

Only numbers, + - * / // % **, parentheses and a few math functions are allowed; anything else
(names, attributes, calls to other functions, strings) is refused with a message the model can use.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable
from typing import Any

from edgeagent_cli.core.agent.tools import ToolError

_BINARY: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow,
}  # fmt: skip
_UNARY: dict[type, Callable[[Any], Any]] = {ast.UAdd: operator.pos, ast.USub: operator.neg}
_FUNCS: dict[str, Callable[..., Any]] = {
    "sqrt": math.sqrt, "abs": abs, "round": round, "min": min, "max": max, "log": math.log,
    "log10": math.log10, "log2": math.log2, "exp": math.exp, "sin": math.sin, "cos": math.cos,
    "tan": math.tan, "floor": math.floor, "ceil": math.ceil, "factorial": math.factorial,
}  # fmt: skip
_CONSTS = {"pi": math.pi, "e": math.e, "tau": math.tau}
# 10**100000 already takes a while to print; bigger exponents are a denial of service, not arithmetic.
_MAX_EXPONENT = 10_000
_MAX_FACTORIAL = 1_000


def calculate(expression: str) -> int | float:
    text = expression.strip().replace("^", "**").replace("×", "*").replace("÷", "/")
    text = text.strip().rstrip("=?,.;").strip()  # "17*23," is how a small model ends a value
    if not text:
        raise ToolError("empty expression")
    if len(text) > 500:
        raise ToolError("expression too long (500 characters at most)")
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as e:
        raise ToolError(f"not an arithmetic expression: {expression!r}") from e
    try:
        value = _eval(tree.body)
    except ZeroDivisionError as e:
        raise ToolError("division by zero") from e
    except (OverflowError, ValueError) as e:
        raise ToolError(f"cannot compute {expression!r}: {e}") from e
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    return value


def _eval(node: ast.AST) -> Any:
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float) and not isinstance(node.value, bool):
        return node.value
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _eval(node.left), _eval(node.right)
        if isinstance(node.op, ast.Pow) and abs(right) > _MAX_EXPONENT:
            raise ToolError(f"exponent {right} too large")
        return _BINARY[type(node.op)](left, right)
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_eval(node.operand))
    if isinstance(node, ast.Name) and node.id in _CONSTS:
        return _CONSTS[node.id]
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _FUNCS and not node.keywords:
        args = [_eval(a) for a in node.args]
        if node.func.id == "factorial" and args and args[0] > _MAX_FACTORIAL:
            raise ToolError(f"factorial of {args[0]} too large")
        return _FUNCS[node.func.id](*args)
    what = ast.unparse(node) if hasattr(ast, "unparse") else type(node).__name__
    raise ToolError(f"not allowed in an arithmetic expression: {what}")
