"""What a model's chat template asks of the machine that renders it: a static scan.

A chat template is code that arrives with a downloaded model. Jinja's sandbox stops attribute escapes
but not a template that loops, builds huge strings or reaches for other templates, so the scan flags
what no chat template needs. `models show` lists the flags; chat, eval and serve refuse a flagged
template unless `--trust-template` is given.
"""

from __future__ import annotations

import re

MAX_TEMPLATE_BYTES = 128 * 1024  # the largest real chat templates (tool-calling ones) are about 20 KiB

_CHECKS = (
    (re.compile(r"__\w+__|\.\s*__"), "dunder access"),
    (re.compile(r"\|\s*attr\b"), "the attr filter"),
    (re.compile(r"{%-?\s*(include|import|from|extends)\b"), "include/import/extends"),
    (re.compile(r"\b(eval|exec|compile|subprocess|popen|globals|builtins|getattr|setattr)\s*\("), "exec-like call"),
    (re.compile(r"\bcycler\b|\bjoiner\b|\blipsum\b|\bnamespace\s*\(\s*\*\*"), "unusual globals"),
)


def scan(template: str) -> list[str]:
    """Why a template looks hostile; [] for an ordinary chat template."""
    flags = [why for pattern, why in _CHECKS if pattern.search(template)]
    if len(template.encode("utf-8", "replace")) > MAX_TEMPLATE_BYTES:
        flags.append(f"over {MAX_TEMPLATE_BYTES // 1024} KiB")
    return flags
