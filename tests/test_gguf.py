from __future__ import annotations

import io
import struct
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgeagent_cli.core.models import gguf


def _header_bytes(path: Path, n: int = 4096) -> bytes:
    with path.open("rb") as f:
        return f.read(n)


def test_reads_smollm2_architecture(smollm2: Path) -> None:
    s = gguf.read_file_header(smollm2).summary()
    assert s["architecture"] == "llama"
    assert (s["n_layers"], s["n_heads"], s["n_kv_heads"], s["head_dim"]) == (30, 9, 3, 64)
    assert s["context_length"] == 8192 and s["vocab_size"] == 49152
    assert s["file_type"] == "Q4_1"
    assert s["chat_template"] is True and s["template_tools"] is False
    assert 130e6 < s["parameters"] < 140e6


def test_truncated_headers_raise_only_gguf_error(smollm2: Path) -> None:
    header = gguf.read_file_header(smollm2)
    data = _header_bytes(smollm2, header.header_bytes)
    for cut in [0, 3, 4, 8, 16, 24, 25, 100, 1000, 50_000, len(data) // 2, len(data) - 1]:
        with pytest.raises(gguf.GGUFError):
            gguf.read_header(io.BytesIO(data[:cut]), size=cut)


def _minimal(kv: bytes, n_kv: int = 1, n_tensors: int = 0) -> bytes:
    return b"GGUF" + struct.pack("<IQQ", 3, n_tensors, n_kv) + kv


def test_huge_lengths_do_not_allocate() -> None:
    key = struct.pack("<Q", 2**62) + b"k"
    with pytest.raises(gguf.GGUFError):
        gguf.read_header(io.BytesIO(_minimal(key)), size=len(_minimal(key)))
    arr = struct.pack("<Q", 1) + b"a" + struct.pack("<IIQ", 9, 4, 2**60)
    with pytest.raises(gguf.GGUFError):
        gguf.read_header(io.BytesIO(_minimal(arr)), size=len(_minimal(arr)))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=512))
def test_fuzz_random_bytes(blob: bytes) -> None:
    for data in (blob, b"GGUF" + blob, _minimal(blob, n_kv=3, n_tensors=2)):
        try:
            gguf.read_header(io.BytesIO(data), size=len(data)).summary()
        except gguf.GGUFError:
            pass


@pytest.fixture(scope="module")
def real_prefix(smollm2: Path) -> bytes:
    return _header_bytes(smollm2, 300_000)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.tuples(st.integers(0, 4000), st.integers(0, 255)), min_size=1, max_size=8), st.integers(0, 300_000))
def test_fuzz_mutated_real_header(real_prefix: bytes, flips: list[tuple[int, int]], cut: int) -> None:
    data = bytearray(real_prefix[:cut])
    for pos, value in flips:
        if pos < len(data):
            data[pos] = value
    try:
        gguf.read_header(io.BytesIO(bytes(data)), size=len(data)).summary()
    except gguf.GGUFError:
        pass
