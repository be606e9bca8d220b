"""Hostile GGUFs made from a real one: another chat template, data cut short, counts that lie.

The template is replaced in the raw header bytes (key, type, length-prefixed value), the data section
is re-aligned, and the tensor data is copied as it was: tensor offsets are relative to the data
section, so the model still loads and runs.
"""

from __future__ import annotations

import struct
from pathlib import Path

from edgeagent_cli.core.models import gguf

KEY = b"tokenizer.chat_template"
STRING = 8


def with_template(src: Path, dst: Path, template: str) -> Path:
    raw = src.read_bytes()
    header = gguf.read_file_header(src)
    alignment = header.get("general.alignment") or gguf.DEFAULT_ALIGNMENT
    data_start = -(-header.header_bytes // alignment) * alignment
    key_at = raw.index(struct.pack("<Q", len(KEY)) + KEY)
    value_at = key_at + 8 + len(KEY)
    assert struct.unpack_from("<I", raw, value_at)[0] == STRING
    old_len = struct.unpack_from("<Q", raw, value_at + 4)[0]
    after = value_at + 4 + 8 + old_len
    body = template.encode()
    new_header = raw[:value_at] + struct.pack("<IQ", STRING, len(body)) + body + raw[after : header.header_bytes]
    padding = b"\0" * (-len(new_header) % alignment)
    dst.write_bytes(new_header + padding + raw[data_start:])
    return dst


def truncated(src: Path, dst: Path, size: int) -> Path:
    with src.open("rb") as f:
        dst.write_bytes(f.read(size))
    return dst


def lying_count(src: Path, dst: Path) -> Path:
    """The metadata count claims 2^60 entries."""
    raw = bytearray(src.read_bytes()[:4096])
    struct.pack_into("<Q", raw, 16, 1 << 60)
    dst.write_bytes(bytes(raw))
    return dst
