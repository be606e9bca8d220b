"""A small GGUF header reader: metadata and tensor shapes without loading the model.

Reads any binary stream with `read(n)` (a local file, or HTTP Range requests for a remote one, see
`hub.RangeFile`). Every length and count is checked against what the stream can still hold, so a
truncated or hostile header ends in `GGUFError`, never in a huge allocation or another exception.
Format: https://github.com/ggml-org/ggml/blob/master/docs/gguf.md
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from edgeagent_cli.core.models.chat_template import scan

MAGIC = b"GGUF"
# Arrays longer than this are summarised (the tokenizer's 49k-200k tokens) rather than kept.
KEEP_ARRAY_ITEMS = 1024
MAX_STRING = 64 * 1024 * 1024  # a chat template is a few KiB; 64 MiB is already absurd
MAX_ENTRIES = 1 << 20

_SCALARS: dict[int, tuple[str, int]] = {
    0: ("<B", 1), 1: ("<b", 1), 2: ("<H", 2), 3: ("<h", 2), 4: ("<I", 4), 5: ("<i", 4),
    6: ("<f", 4), 7: ("<?", 1), 10: ("<Q", 8), 11: ("<q", 8), 12: ("<d", 8),
}  # fmt: skip
STRING, ARRAY = 8, 9

# llama.cpp's LLAMA_FTYPE values (general.file_type) -> the quant label users know.
FILE_TYPES = {
    0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 7: "Q8_0", 8: "Q5_0", 9: "Q5_1", 10: "Q2_K",
    11: "Q3_K_S", 12: "Q3_K_M", 13: "Q3_K_L", 14: "Q4_K_S", 15: "Q4_K_M", 16: "Q5_K_S",
    17: "Q5_K_M", 18: "Q6_K", 19: "IQ2_XXS", 20: "IQ2_XS", 21: "Q2_K_S", 22: "IQ3_XS",
    23: "IQ3_XXS", 24: "IQ1_S", 25: "IQ4_NL", 26: "IQ3_S", 27: "IQ3_M", 28: "IQ2_S",
    29: "IQ2_M", 30: "IQ4_XS", 31: "IQ1_M", 32: "BF16", 36: "TQ1_0", 37: "TQ2_0", 38: "MXFP4_MOE",
}  # fmt: skip


# ggml tensor type -> (values per block, bytes per block), as ggml lays them out (gguf's GGML_QUANT_SIZES).
GGML_BLOCKS = {
    0: (1, 4), 1: (1, 2), 2: (32, 18), 3: (32, 20), 6: (32, 22), 7: (32, 24), 8: (32, 34), 9: (32, 40),
    10: (256, 84), 11: (256, 110), 12: (256, 144), 13: (256, 176), 14: (256, 210), 15: (256, 292),
    16: (256, 66), 17: (256, 74), 18: (256, 98), 19: (256, 50), 20: (32, 18), 21: (256, 110), 22: (256, 82),
    23: (256, 136), 24: (1, 1), 25: (1, 2), 26: (1, 4), 27: (1, 8), 28: (1, 8), 29: (256, 56), 30: (1, 2),
    34: (256, 54), 35: (256, 66), 39: (32, 17), 40: (64, 36), 41: (128, 18),
}  # fmt: skip
DEFAULT_ALIGNMENT = 32


class GGUFError(Exception):
    """The bytes are not a readable GGUF header."""


@dataclass
class ArraySummary:
    item_type: int
    count: int


@dataclass
class TensorInfo:
    name: str
    shape: tuple[int, ...]
    ggml_type: int
    offset: int

    @property
    def n_elements(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n


@dataclass
class GGUFHeader:
    version: int
    metadata: dict[str, Any]
    tensors: list[TensorInfo] = field(default_factory=list)
    header_bytes: int = 0

    def get(self, key: str, default: Any = None) -> Any:
        return self.metadata.get(key, default)

    def data_end(self) -> int | None:
        """The file size the tensors need: the aligned data section's start plus the furthest tensor's end.
        None when a tensor has a type this reader does not know (its size cannot be checked)."""
        alignment = _int(self.metadata.get("general.alignment")) or DEFAULT_ALIGNMENT
        start = -(-self.header_bytes // alignment) * alignment
        end = 0
        for t in self.tensors:
            block = GGML_BLOCKS.get(t.ggml_type)
            if block is None:
                return None
            end = max(end, t.offset + t.n_elements // block[0] * block[1])
        return start + end

    @property
    def architecture(self) -> str | None:
        value = self.metadata.get("general.architecture")
        return value if isinstance(value, str) else None

    def arch_value(self, suffix: str) -> Any:
        return self.metadata.get(f"{self.architecture}.{suffix}")

    def summary(self) -> dict[str, Any]:
        """The numbers fit estimates and `models show` need, with derived head_dim and params."""
        n_heads = _int(self.arch_value("attention.head_count"))
        n_kv = _int(self.arch_value("attention.head_count_kv")) or n_heads
        embd = _int(self.arch_value("embedding_length"))
        head_dim = _int(self.arch_value("attention.key_length"))
        if head_dim is None and embd and n_heads:
            head_dim = embd // n_heads
        tokens = self.metadata.get("tokenizer.ggml.tokens")
        vocab = tokens.count if isinstance(tokens, ArraySummary) else len(tokens) if isinstance(tokens, list) else None
        template = self.metadata.get("tokenizer.chat_template")
        ftype = _int(self.metadata.get("general.file_type"))
        return {
            "architecture": self.architecture,
            "name": self.metadata.get("general.name"),
            "parameters": sum(t.n_elements for t in self.tensors) or None,
            "n_layers": _int(self.arch_value("block_count")),
            "n_heads": n_heads if not isinstance(n_heads, list) else None,
            "n_kv_heads": n_kv if not isinstance(n_kv, list) else None,
            "head_dim": head_dim,
            "embedding_length": embd,
            "context_length": _int(self.arch_value("context_length")),
            "sliding_window": _int(self.arch_value("attention.sliding_window")),
            "vocab_size": vocab,
            "file_type": FILE_TYPES.get(ftype, f"type {ftype}") if ftype is not None else None,
            "chat_template": isinstance(template, str) and bool(template),
            "template_tools": isinstance(template, str) and ("tools" in template or "tool_call" in template),
            "template_flags": scan(template) if isinstance(template, str) else [],
            "gguf_version": self.version,
            "tensor_count": len(self.tensors),
        }


def arch_numbers(summary: dict[str, Any]) -> dict[str, Any]:
    """A header summary -> the architecture numbers fit estimates use (the catalog's `arch` keys)."""
    arch = {
        "n_layers": summary.get("n_layers"),
        "n_heads": summary.get("n_heads"),
        "n_kv_heads": summary.get("n_kv_heads"),
        "head_dim": summary.get("head_dim"),
        "hidden_size": summary.get("embedding_length"),
        "context_length": summary.get("context_length"),
        "vocab_size": summary.get("vocab_size"),
        "sliding_window": summary.get("sliding_window"),
    }
    return {k: v for k, v in arch.items() if v is not None}


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


class _Reader:
    def __init__(self, stream: BinaryIO, size: int | None) -> None:
        self.stream = stream
        self.size = size
        self.pos = 0

    def remaining(self) -> int | None:
        return None if self.size is None else self.size - self.pos

    def read(self, n: int) -> bytes:
        rem = self.remaining()
        if n < 0 or (rem is not None and n > rem):
            raise GGUFError(f"truncated GGUF header: wants {n} bytes at offset {self.pos}")
        data = self.stream.read(n)
        if len(data) != n:
            raise GGUFError(f"truncated GGUF header: wants {n} bytes at offset {self.pos}")
        self.pos += n
        return data

    def skip(self, n: int) -> None:
        rem = self.remaining()
        if rem is not None and n > rem:
            raise GGUFError(f"truncated GGUF header: wants {n} bytes at offset {self.pos}")
        seek = getattr(self.stream, "seek", None)
        if seek is not None and self.size is not None:
            seek(n, 1)
            self.pos += n
        else:
            self.read(n)

    def unpack(self, fmt: str, size: int) -> Any:
        return struct.unpack(fmt, self.read(size))[0]

    def u32(self) -> int:
        return int(self.unpack("<I", 4))

    def u64(self) -> int:
        return int(self.unpack("<Q", 8))

    def count(self, what: str, min_item: int) -> int:
        n = self.u64()
        rem = self.remaining()
        if n > MAX_ENTRIES * 64 or (rem is not None and n * min_item > rem):
            raise GGUFError(f"corrupt GGUF header: {what} count {n} at offset {self.pos - 8}")
        return n

    def string(self) -> str:
        n = self.u64()
        if n > MAX_STRING:
            raise GGUFError(f"corrupt GGUF header: string of {n} bytes at offset {self.pos - 8}")
        raw = self.read(n)
        return raw.decode("utf-8", errors="replace")

    def value(self, vtype: int, depth: int = 0) -> Any:
        if vtype in _SCALARS:
            fmt, size = _SCALARS[vtype]
            return self.unpack(fmt, size)
        if vtype == STRING:
            return self.string()
        if vtype == ARRAY and depth < 2:
            item_type = self.u32()
            min_item = _SCALARS[item_type][1] if item_type in _SCALARS else 8
            n = self.count("array", min_item)
            if n > KEEP_ARRAY_ITEMS:
                if item_type in _SCALARS:
                    self.skip(n * _SCALARS[item_type][1])
                else:
                    for _ in range(n):
                        self.value(item_type, depth + 1)
                return ArraySummary(item_type, n)
            return [self.value(item_type, depth + 1) for _ in range(n)]
        raise GGUFError(f"corrupt GGUF header: unknown value type {vtype} at offset {self.pos - 4}")


def read_header(stream: BinaryIO, size: int | None = None, tensors: bool = True) -> GGUFHeader:
    r = _Reader(stream, size)
    if r.read(4) != MAGIC:
        raise GGUFError("not a GGUF file (bad magic)")
    version = r.u32()
    if version not in (2, 3):
        raise GGUFError(f"unsupported GGUF version {version}")
    n_tensors = r.u64()
    n_kv = r.u64()
    if n_tensors > MAX_ENTRIES or n_kv > MAX_ENTRIES:
        raise GGUFError(f"corrupt GGUF header: {n_kv} metadata entries, {n_tensors} tensors")
    metadata: dict[str, Any] = {}
    for _ in range(n_kv):
        key = r.string()
        metadata[key] = r.value(r.u32())
    infos: list[TensorInfo] = []
    if tensors:
        for _ in range(n_tensors):
            name = r.string()
            n_dims = r.u32()
            if n_dims > 8:
                raise GGUFError(f"corrupt GGUF header: tensor {name!r} has {n_dims} dimensions")
            shape = tuple(r.u64() for _ in range(n_dims))
            infos.append(TensorInfo(name, shape, r.u32(), r.u64()))
    return GGUFHeader(version, metadata, infos, r.pos)


def read_file_header(path: Path, check_data: bool = True) -> GGUFHeader:
    """The header of a local file; with check_data, also that the file holds every tensor's bytes
    (a copy cut short keeps a readable header and loses the weights)."""
    try:
        size = path.stat().st_size
        with path.open("rb") as f:
            header = read_header(f, size)
    except OSError as e:
        raise GGUFError(f"cannot read {path}: {e.strerror}") from e
    need = header.data_end() if check_data else None
    if need is not None and size < need:
        raise GGUFError(f"truncated: the file has {size:,} bytes and its tensors need {need:,}")
    return header
