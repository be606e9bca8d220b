"""The installed llama.cpp build (through llama-cpp-python) and where it disagrees with the machine.

The shared library is loaded with ctypes rather than by importing `llama_cpp`, which pulls in numpy
and costs a few hundred milliseconds that `edgeagent detect` does not need.
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
import re
from pathlib import Path
from typing import Any

SAFE_X86_FLAGS = ["-DGGML_NATIVE=OFF", "-DGGML_AVX=ON", "-DGGML_AVX2=ON", "-DGGML_FMA=ON", "-DGGML_F16C=ON"]
# system_info names -> the /proc/cpuinfo feature names of hardware.X86_FEATURES / ARM_FEATURES.
COMPILED_TO_CPU = {
    "AVX": "AVX", "AVX2": "AVX2", "FMA": "FMA", "F16C": "F16C", "BMI2": "BMI2", "AVX512": "AVX512F",
    "AVX512_VBMI": "AVX512_VBMI", "AVX512_VNNI": "AVX512_VNNI", "AVX512_BF16": "AVX512_BF16",
    "AVX_VNNI": "AVX_VNNI", "AMX_INT8": "AMX_INT8", "AMX_BF16": "AMX_BF16", "SSE42": "SSE4.2",
    "NEON": "NEON", "DOTPROD": "DOTPROD", "MATMUL_INT8": "I8MM", "SVE": "SVE",
}  # fmt: skip


def library_path() -> Path | None:
    env = os.environ.get("LLAMA_CPP_LIB_PATH")
    candidates: list[Path] = [Path(env)] if env else []
    spec = importlib.util.find_spec("llama_cpp")
    if spec and spec.submodule_search_locations:
        pkg = Path(next(iter(spec.submodule_search_locations)))
        candidates += [pkg / "lib", pkg]
    for folder in candidates:
        for name in ("libllama.so", "libllama.dylib", "llama.dll"):
            if (folder / name).exists():
                return folder / name
    return None


def parse_system_info(text: str) -> dict[str, dict[str, str]]:
    """`CPU : SSE3 = 1 | AVX2 = 1 | ... | CUDA : ARCHS = 900 | ...` -> {backend: {key: value}}."""
    sections: dict[str, dict[str, str]] = {}
    current = "CPU"
    for part in text.split("|"):
        part = part.strip()
        if not part:
            continue
        m = re.match(r"^(\w+)\s*:\s*(.*)$", part)
        if m:
            current, part = m.group(1), m.group(2)
        key, _, value = part.partition("=")
        if key.strip():
            sections.setdefault(current, {})[key.strip()] = value.strip()
    return sections


def compiled_cpu_features(sections: dict[str, dict[str, str]]) -> list[str]:
    return [k for k, v in sections.get("CPU", {}).items() if v == "1"]


def probe() -> dict[str, Any]:
    """Version, system info and GPU offload of the installed build; `installed: False` when absent."""
    from importlib import metadata  # 30 ms: imported only when the build is asked about

    try:
        version = metadata.version("llama-cpp-python")
    except metadata.PackageNotFoundError:
        return {"installed": False, "version": None, "system_info": None, "gpu_offload": None}
    lib = library_path()
    if lib is None:
        return {"installed": True, "version": version, "system_info": None, "gpu_offload": None}
    try:
        dll = ctypes.CDLL(str(lib))
        dll.llama_print_system_info.restype = ctypes.c_char_p
        dll.llama_supports_gpu_offload.restype = ctypes.c_bool
        info = (dll.llama_print_system_info() or b"").decode(errors="replace").strip()
        offload = bool(dll.llama_supports_gpu_offload())
    except (OSError, AttributeError) as e:
        return {"installed": True, "version": version, "system_info": None, "gpu_offload": None, "error": str(e)}
    return {"installed": True, "version": version, "library": str(lib), "system_info": info, "gpu_offload": offload}


def rebuild_command(version: str | None, cmake_flags: list[str]) -> str:
    pin = f"=={version}" if version else ""
    return (
        f'CMAKE_ARGS="{" ".join(cmake_flags)}" pip install --no-cache-dir --force-reinstall '
        f'--no-deps "llama-cpp-python{pin}"'
    )


def cpu_safe_flags(cpu_features: list[str]) -> list[str]:
    """Flags for a portable build using only what this CPU has (never AMX: see the README, "Why the build flags")."""
    if any(f in cpu_features for f in ("NEON", "DOTPROD")):
        return ["-DGGML_NATIVE=OFF"]
    flags = ["-DGGML_NATIVE=OFF"]
    for feature, flag in (
        ("AVX", "-DGGML_AVX=ON"),
        ("AVX2", "-DGGML_AVX2=ON"),
        ("FMA", "-DGGML_FMA=ON"),
        ("F16C", "-DGGML_F16C=ON"),
    ):
        if feature in cpu_features:
            flags.append(flag)
    return flags


def warnings(build: dict[str, Any], cpu_features: list[str], gpus: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Where the installed build and this machine disagree, each with the exact rebuild command."""
    if not build.get("installed"):
        return [
            {
                "id": "not-installed",
                "message": "llama-cpp-python is not installed: bench and chat cannot run models in-process",
                "fix": rebuild_command(None, cpu_safe_flags(cpu_features)),
            }
        ]
    if not build.get("system_info"):
        return []
    sections = parse_system_info(build["system_info"])
    compiled = compiled_cpu_features(sections)
    version = build.get("version")
    safe = rebuild_command(version, cpu_safe_flags(cpu_features))
    out: list[dict[str, str]] = []
    if any(f.startswith("AMX") for f in compiled) and any(f.startswith("AMX") for f in cpu_features):
        out.append(
            {
                "id": "amx-build",
                "message": "this llama.cpp build uses ggml's AMX kernels; on many VMs and clouds the first "
                "matrix multiply dies with SIGILL (exit 132: llama.cpp #26954, #28328)",
                "fix": safe,
            }
        )
    missing = sorted(
        f
        for f in compiled
        if f in COMPILED_TO_CPU and COMPILED_TO_CPU[f] not in cpu_features and not f.startswith("AMX")
    )
    if missing:
        out.append(
            {
                "id": "missing-instructions",
                "message": f"this build uses instructions the CPU lacks ({', '.join(missing)}): it will crash "
                "with an illegal instruction",
                "fix": safe,
            }
        )
    vendors = {g["vendor"] for g in gpus}
    if not build.get("gpu_offload"):
        if "NVIDIA" in vendors:
            out.append(
                {
                    "id": "cpu-only-build",
                    "message": "an NVIDIA GPU is present but this llama.cpp build cannot offload to it",
                    "fix": rebuild_command(version, ["-DGGML_CUDA=ON", *cpu_safe_flags(cpu_features)]),
                }
            )
        elif "AMD" in vendors:
            out.append(
                {
                    "id": "cpu-only-build",
                    "message": "an AMD GPU is present but this llama.cpp build cannot offload to it",
                    "fix": rebuild_command(version, ["-DGGML_HIP=ON", *cpu_safe_flags(cpu_features)]),
                }
            )
    return out
