"""Silence llama.cpp's load logs, once per process, for every part that loads a model."""

from __future__ import annotations

import ctypes
from typing import Any

_LOG_SINK: Any = None


def quiet_logs() -> Any:
    """The callback lives for the whole process: llama.cpp keeps the pointer, and a collected
    callback would crash the next model load."""
    global _LOG_SINK
    import llama_cpp

    if _LOG_SINK is None:

        @llama_cpp.llama_log_callback
        def _sink(level: int, text: bytes, user_data: ctypes.c_void_p) -> None:
            return None

        _LOG_SINK = _sink
    llama_cpp.llama_log_set(_LOG_SINK, ctypes.c_void_p(0))
    return _LOG_SINK
