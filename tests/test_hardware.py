from __future__ import annotations

from edgeagent_cli.core.hardware import llama_build
from edgeagent_cli.core.hardware import probe as hardware
from tests.conftest import DATA

AMX_BUILD_INFO = (
    "CPU : SSE3 = 1 | SSSE3 = 1 | AVX = 1 | AVX_VNNI = 1 | AVX2 = 1 | F16C = 1 | FMA = 1 | BMI2 = 1 | "
    "AVX512 = 1 | AVX512_VBMI = 1 | AVX512_VNNI = 1 | AVX512_BF16 = 1 | AMX_INT8 = 1 | LLAMAFILE = 1 | "
    "OPENMP = 1 | REPACK = 1 |"
)
SAFE_BUILD_INFO = "CPU : SSE3 = 1 | SSSE3 = 1 | AVX = 1 | AVX2 = 1 | F16C = 1 | FMA = 1 | BMI2 = 1 | LLAMAFILE = 1 | OPENMP = 1 | REPACK = 1 |"


def test_parses_xeon_cpuinfo_with_amx() -> None:
    cpu = hardware.parse_cpuinfo((DATA / "x86-xeon-amx-cpuinfo-one-cpu.txt").read_text())
    assert cpu["model"] == "Intel(R) Xeon(R) Processor"
    for f in ("SSE4.2", "AVX", "AVX2", "FMA", "F16C", "AVX512F", "AVX512_VNNI", "AMX_TILE", "AMX_INT8"):
        assert f in cpu["features"], f


def test_parses_epyc_cpuinfo_without_amx() -> None:
    cpu = hardware.parse_cpuinfo((DATA / "x86-epyc-cpuinfo.txt").read_text())
    assert "AVX2" in cpu["features"] and not any(f.startswith("AMX") for f in cpu["features"])


def test_parses_arm_cpuinfo() -> None:
    pi = hardware.parse_cpuinfo((DATA / "arm-rpi5-cpuinfo.txt").read_text())
    assert pi["features"] == ["NEON", "FP16", "FP16_VA", "DOTPROD"]
    assert "0xd0b" in pi["model"]
    graviton = hardware.parse_cpuinfo((DATA / "arm-graviton3-cpuinfo.txt").read_text())
    assert {"SVE", "I8MM", "DOTPROD", "NEON", "BF16"} <= set(graviton["features"])


def test_parses_nvidia_smi_csv_capture() -> None:
    (gpu,) = hardware.parse_nvidia_smi_csv((DATA / "h100-nvidia-smi-query.csv").read_text())
    assert gpu["name"] == "NVIDIA H100 80GB HBM3"
    assert gpu["vram_total_bytes"] == 81559 * 2**20 and gpu["vram_free_bytes"] == 81079 * 2**20
    assert gpu["driver"] == "580.159.04" and gpu["compute_capability"] == "9.0" and gpu["backend"] == "CUDA"


def test_parses_rocm_smi_json() -> None:
    (gpu,) = hardware.parse_rocm_smi_json((DATA / "rocm-smi.json").read_text())
    assert gpu["vendor"] == "AMD" and gpu["name"] == "Radeon RX 7900 XTX"
    assert gpu["vram_total_bytes"] == 25753026560 and gpu["vram_free_bytes"] == 25753026560 - 1179648000
    assert gpu["driver"] == "6.8.0" and gpu["compute_capability"] == "gfx1100"
    assert hardware.parse_rocm_smi_json("not json") == []


def test_parses_macos_sysctl() -> None:
    mac = hardware.parse_sysctl((DATA / "macos-m2-sysctl.txt").read_text())
    assert mac["model"] == "Apple M2" and mac["memory_bytes"] == 16 * 2**30
    assert set(mac["features"]) == {"NEON", "DOTPROD", "FP16", "BF16"}
    (gpu,) = hardware.apple_gpu(mac)
    assert gpu["backend"] == "Metal" and gpu["unified_memory"] is True


def test_amx_build_on_amx_cpu_warns_with_rebuild_command() -> None:
    cpu = hardware.parse_cpuinfo((DATA / "x86-xeon-amx-cpuinfo-one-cpu.txt").read_text())
    build = {"installed": True, "version": "0.3.36", "system_info": AMX_BUILD_INFO, "gpu_offload": False}
    (w,) = llama_build.warnings(build, cpu["features"], [])
    assert w["id"] == "amx-build" and "SIGILL" in w["message"]
    assert w["fix"].startswith(
        'CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON"'
    )
    assert "--no-cache-dir" in w["fix"] and "llama-cpp-python==0.3.36" in w["fix"]


def test_safe_build_has_no_warning_and_cpu_only_build_with_gpu_does() -> None:
    cpu = hardware.parse_cpuinfo((DATA / "x86-xeon-amx-cpuinfo-one-cpu.txt").read_text())
    build = {"installed": True, "version": "0.3.36", "system_info": SAFE_BUILD_INFO, "gpu_offload": False}
    assert llama_build.warnings(build, cpu["features"], []) == []
    gpus = hardware.parse_nvidia_smi_csv((DATA / "h100-nvidia-smi-query.csv").read_text())
    (w,) = llama_build.warnings(build, cpu["features"], gpus)
    assert w["id"] == "cpu-only-build" and "-DGGML_CUDA=ON" in w["fix"]


def test_build_with_instructions_the_cpu_lacks_warns() -> None:
    pi = hardware.parse_cpuinfo((DATA / "arm-rpi5-cpuinfo.txt").read_text())
    build = {
        "installed": True,
        "version": "0.3.36",
        "gpu_offload": False,
        "system_info": "CPU : NEON = 1 | ARM_FMA = 1 | DOTPROD = 1 | MATMUL_INT8 = 1 | SVE = 1 |",
    }
    (w,) = llama_build.warnings(build, pi["features"], [])
    assert w["id"] == "missing-instructions" and "MATMUL_INT8" in w["message"] and "SVE" in w["message"]


def test_installed_build_is_probed_and_carries_no_amx() -> None:
    build = llama_build.probe()
    assert build["installed"] and "AVX2 = 1" in build["system_info"]
    assert "AMX" not in build["system_info"], "the project's own build must not carry AMX kernels"
