"""What hardware is here: CPU and its SIMD features, memory, GPUs, NPUs, disk, OS.

Each source has a pure parser (unit-tested on captured outputs in tests/data) and a probe that
runs the tool or reads the file. Probes never raise: a missing tool means "not seen".
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

# /proc/cpuinfo flag -> the feature name llama.cpp's system info uses.
X86_FEATURES = {
    "sse4_2": "SSE4.2", "avx": "AVX", "avx2": "AVX2", "fma": "FMA", "f16c": "F16C", "bmi2": "BMI2",
    "avx512f": "AVX512F", "avx512bw": "AVX512BW", "avx512vl": "AVX512VL", "avx512dq": "AVX512DQ",
    "avx512cd": "AVX512CD", "avx512_vnni": "AVX512_VNNI", "avx512_bf16": "AVX512_BF16",
    "avx512vbmi": "AVX512_VBMI", "avx512_fp16": "AVX512_FP16", "avx_vnni": "AVX_VNNI",
    "amx_tile": "AMX_TILE", "amx_int8": "AMX_INT8", "amx_bf16": "AMX_BF16",
}  # fmt: skip
ARM_FEATURES = {
    "asimd": "NEON", "fphp": "FP16", "asimdhp": "FP16_VA", "asimddp": "DOTPROD", "i8mm": "I8MM",
    "sve": "SVE", "sve2": "SVE2", "sme": "SME", "bf16": "BF16",
}  # fmt: skip
MACOS_FEATURES = {
    "hw.optional.neon": "NEON", "hw.optional.arm.FEAT_DotProd": "DOTPROD",
    "hw.optional.arm.FEAT_I8MM": "I8MM", "hw.optional.arm.FEAT_FP16": "FP16",
    "hw.optional.arm.FEAT_BF16": "BF16", "hw.optional.arm.FEAT_SME": "SME",
}  # fmt: skip
PCI_VENDORS = {"0x10de": "NVIDIA", "0x1002": "AMD", "0x8086": "Intel", "0x13b5": "ARM", "0x5143": "Qualcomm"}
MIB = 1024 * 1024


def _run(cmd: list[str], timeout: float = 5.0) -> str | None:
    if shutil.which(cmd[0]) is None:
        return None
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None


def _read(path: str | Path) -> str | None:
    try:
        return Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


# --- CPU ---------------------------------------------------------------------------------------
def parse_cpuinfo(text: str) -> dict[str, Any]:
    """The first processor block of /proc/cpuinfo (x86 or ARM): model name and features."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            if fields:
                break
            continue
        key, _, value = line.partition(":")
        fields.setdefault(key.strip().lower(), value.strip())
    if "flags" in fields:
        flags, table = fields["flags"].split(), X86_FEATURES
    else:
        flags, table = fields.get("features", "").split(), ARM_FEATURES
    features = [name for flag, name in table.items() if flag in flags]
    model = fields.get("model name") or fields.get("hardware") or fields.get("cpu model")
    if model is None and "cpu implementer" in fields:
        model = f"ARM implementer {fields['cpu implementer']} part {fields.get('cpu part', '?')}"
    return {"model": model, "features": features}


def parse_sysctl(text: str) -> dict[str, Any]:
    """`sysctl -a` (or selected keys) on macOS: Apple silicon CPU, unified memory and features."""
    kv: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            kv[key.strip()] = value.strip()
    features = [name for key, name in MACOS_FEATURES.items() if kv.get(key) == "1"]
    return {
        "model": kv.get("machdep.cpu.brand_string"),
        "features": features,
        "memory_bytes": int(kv["hw.memsize"]) if kv.get("hw.memsize", "").isdigit() else None,
        "physical_cores": int(kv["hw.physicalcpu"]) if kv.get("hw.physicalcpu", "").isdigit() else None,
        "logical_cores": int(kv["hw.logicalcpu"]) if kv.get("hw.logicalcpu", "").isdigit() else None,
        "performance_cores": int(kv["hw.perflevel0.physicalcpu"])
        if kv.get("hw.perflevel0.physicalcpu", "").isdigit()
        else None,
    }


def detect_cpu() -> dict[str, Any]:
    import psutil

    info: dict[str, Any] = {"model": None, "features": []}
    if sys.platform == "darwin":
        out = _run(["sysctl", "-a"])
        if out:
            info = parse_sysctl(out)
    else:
        text = _read("/proc/cpuinfo")
        if text:
            info = parse_cpuinfo(text)
    return {
        "model": info.get("model") or platform.processor() or None,
        "arch": platform.machine(),
        "physical_cores": info.get("physical_cores") or psutil.cpu_count(logical=False),
        "logical_cores": info.get("logical_cores") or psutil.cpu_count(logical=True),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "features": info.get("features", []),
    }


def detect_memory() -> dict[str, Any]:
    import psutil

    vm = psutil.virtual_memory()
    return {"total_bytes": vm.total, "available_bytes": vm.available}


# --- GPUs --------------------------------------------------------------------------------------
def _mib(value: str) -> int | None:
    digits = value.replace("MiB", "").strip()
    return int(float(digits) * MIB) if digits.replace(".", "", 1).isdigit() else None


def parse_nvidia_smi_csv(text: str) -> list[dict[str, Any]]:
    """`nvidia-smi --query-gpu=name,memory.total,memory.free,memory.used,driver_version,compute_cap,
    pci.bus_id --format=csv` (with or without the header line)."""
    gpus = []
    for line in text.strip().splitlines():
        cols = [c.strip() for c in line.split(",")]
        if not cols or cols[0] == "name" or len(cols) < 6:
            continue
        gpus.append(
            {
                "vendor": "NVIDIA",
                "name": cols[0],
                "vram_total_bytes": _mib(cols[1]),
                "vram_free_bytes": _mib(cols[2]),
                "driver": cols[4],
                "compute_capability": cols[5],
                "backend": "CUDA",
                "bus_id": cols[6] if len(cols) > 6 else None,
            }
        )
    return gpus


def parse_rocm_smi_json(text: str) -> list[dict[str, Any]]:
    """`rocm-smi --showproductname --showmeminfo vram --showdriverversion --json`."""
    try:
        doc = json.loads(text)
    except ValueError:
        return []
    driver = (doc.get("system") or {}).get("Driver version")
    gpus = []
    for key, card in sorted(doc.items()):
        if not key.startswith("card") or not isinstance(card, dict):
            continue
        total = card.get("VRAM Total Memory (B)")
        used = card.get("VRAM Total Used Memory (B)")
        total_b = int(str(total)) if str(total).isdigit() else None
        used_b = int(str(used)) if str(used).isdigit() else None
        gpus.append(
            {
                "vendor": "AMD",
                "name": card.get("Card series") or card.get("Card model"),
                "vram_total_bytes": total_b,
                "vram_free_bytes": total_b - used_b if total_b is not None and used_b is not None else None,
                "driver": driver,
                "compute_capability": card.get("GFX Version"),
                "backend": "ROCm",
            }
        )
    return gpus


def apple_gpu(sysctl: dict[str, Any]) -> list[dict[str, Any]]:
    """Apple silicon: the GPU shares unified memory; Metal is the backend."""
    model = sysctl.get("model") or ""
    if not model.startswith("Apple"):
        return []
    return [
        {
            "vendor": "Apple",
            "name": f"{model} GPU",
            "vram_total_bytes": sysctl.get("memory_bytes"),
            "vram_free_bytes": None,
            "unified_memory": True,
            "driver": None,
            "compute_capability": None,
            "backend": "Metal",
        }
    ]


def detect_gpus() -> list[dict[str, Any]]:
    query = "name,memory.total,memory.free,memory.used,driver_version,compute_cap,pci.bus_id"
    gpus: list[dict[str, Any]] = []
    out = _run(["nvidia-smi", f"--query-gpu={query}", "--format=csv"])
    if out:
        gpus += parse_nvidia_smi_csv(out)
    out = _run(["rocm-smi", "--showproductname", "--showmeminfo", "vram", "--showdriverversion", "--json"])
    if out:
        gpus += parse_rocm_smi_json(out)
    if sys.platform == "darwin":
        out = _run(["sysctl", "hw.memsize", "machdep.cpu.brand_string"])
        if out:
            gpus += apple_gpu(parse_sysctl(out))
    seen = {g["vendor"] for g in gpus}
    for card in sorted(Path("/sys/class/drm").glob("card[0-9]*")):
        if "-" in card.name:  # connectors (card0-HDMI-A-1), not devices
            continue
        vendor = PCI_VENDORS.get((_read(card / "device" / "vendor") or "").strip())
        if vendor and vendor not in seen:
            gpus.append(
                {
                    "vendor": vendor,
                    "name": f"{vendor} GPU ({card.name})",
                    "vram_total_bytes": None,
                    "vram_free_bytes": None,
                    "driver": None,
                    "compute_capability": None,
                    "backend": {"Intel": "SYCL/Vulkan", "AMD": "ROCm/Vulkan"}.get(vendor, "Vulkan"),
                }
            )
    return gpus


def detect_npus() -> list[dict[str, Any]]:
    """Linux's accel subsystem (/sys/class/accel: Intel NPU, AMD XDNA, Qualcomm) lists NPUs."""
    npus = []
    for dev in sorted(Path("/sys/class/accel").glob("accel*")):
        driver = Path(os.path.realpath(dev / "device" / "driver")).name
        vendor = PCI_VENDORS.get((_read(dev / "device" / "vendor") or "").strip())
        npus.append({"name": dev.name, "driver": driver, "vendor": vendor})
    return npus


def detect_disk(path: Path) -> dict[str, Any]:
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    usage = shutil.disk_usage(probe)
    return {"path": str(path), "free_bytes": usage.free, "total_bytes": usage.total}


def detect_os() -> dict[str, Any]:
    return {
        "system": platform.system(),
        "release": platform.release(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
    }
