"""One settings resolver: flag > EDGEAGENT_* variable > profile (deployment, then device) > default."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgeagent_cli.core.errors import EdgeError, ExitCode
from edgeagent_cli.core.hardware.machine import Machine
from edgeagent_cli.core.settings import ALL_GPU_LAYERS, resolve
from tests.conftest import cli, cli_json

GiB = 1024**3
CPU = {"model": "test", "arch": "x86_64", "physical_cores": 4, "logical_cores": 8, "usable_cores": 8, "features": []}
LAPTOP = Machine(CPU, {"total_bytes": 16 * GiB, "available_bytes": 12 * GiB}, [], {"gpu_offload": False})
GPU = [{"vendor": "NVIDIA", "name": "H100", "vram_total_bytes": 80 * GiB, "vram_free_bytes": 79 * GiB}]
GPU_BOX = Machine(CPU, {"total_bytes": 128 * GiB, "available_bytes": 120 * GiB}, GPU, {"gpu_offload": True})


def test_flag_beats_variable_beats_profile_beats_default(monkeypatch: pytest.MonkeyPatch) -> None:
    s = resolve({"context": 1024}, profile="edge", machine=LAPTOP)
    assert (s["context"], s.source("context")) == (1024, "--ctx")
    monkeypatch.setenv("EDGEAGENT_CTX", "2048")
    s = resolve({}, profile="edge", machine=LAPTOP)
    assert (s["context"], s.source("context")) == (2048, "EDGEAGENT_CTX")
    monkeypatch.delenv("EDGEAGENT_CTX")
    s = resolve({}, profile="edge", machine=LAPTOP)
    assert (s["context"], s.source("context")) == (4096, "profile edge")
    assert (s["parallel"], s.source("parallel")) == (1, "default")


def test_threads_auto_is_the_physical_core_count_and_says_so() -> None:
    s = resolve({}, profile="edge", machine=LAPTOP)
    assert s["threads"] == 4
    assert "threads=4 from profile edge (auto: physical cores)" in s.lines()


def test_gpu_layers_of_a_profile_apply_only_where_the_build_offloads() -> None:
    on_gpu = resolve({}, profile="workstation", machine=GPU_BOX)
    assert on_gpu["gpu_layers"] == ALL_GPU_LAYERS and "every layer" in on_gpu.source("gpu_layers")
    on_cpu = resolve({}, profile="workstation", machine=LAPTOP)
    assert on_cpu["gpu_layers"] == 0 and "no GPU offload here" in on_cpu.source("gpu_layers")
    forced = resolve({"gpu_layers": 12}, profile="workstation", machine=LAPTOP)
    assert forced["gpu_layers"] == 12 and forced.source("gpu_layers") == "--gpu-layers"


def test_deployment_profile_comes_before_the_device_profile() -> None:
    s = resolve({}, profile="edge", deployment="production", machine=LAPTOP)
    assert (s["batch"], s.source("batch")) == (2048, "profile production")
    assert (s["parallel"], s["api_key_required"], s["kv_cache_type"]) == (8, True, "q8_0")
    assert s.to_dict()["deployment"] == {"name": "production"}


def test_profile_variable_and_detection_choose_the_device_profile(monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve({}, machine=LAPTOP).device_source == "detected"
    monkeypatch.setenv("EDGEAGENT_PROFILE", "mobile")
    s = resolve({}, machine=LAPTOP)
    assert (s.device.name, s.device_source) == ("mobile", "EDGEAGENT_PROFILE")
    assert s.quant_range() == ("Q2_K", "Q4_K_M")


def test_a_bad_variable_is_a_usage_error_that_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDGEAGENT_CTX", "lots")
    with pytest.raises(EdgeError) as err:
        resolve({}, machine=LAPTOP)
    assert err.value.code == ExitCode.USAGE and "EDGEAGENT_CTX" in err.value.message


def test_budget_is_max_memory_else_free_memory_minus_the_profiles_headroom(monkeypatch: pytest.MonkeyPatch) -> None:
    budget, why = resolve({}, profile="edge", machine=LAPTOP).budget()
    assert budget == 12 * GiB - 1024 * 2**20 and "profile edge" in why
    monkeypatch.setenv("EDGEAGENT_MAX_MEMORY", "2GB")
    assert resolve({}, profile="edge", machine=LAPTOP).budget() == (2_000_000_000, "EDGEAGENT_MAX_MEMORY")


def test_detect_recommends_what_the_commands_will_use() -> None:
    doc = cli_json("detect", "--profile", "edge", env={"EDGEAGENT_CTX": "3072"})
    rec = doc["recommendation"]
    assert rec["profile"] == "edge" and rec["profile_source"] == "--profile" and rec["context"] == 3072


def test_verbose_says_where_each_value_came_from_and_json_carries_it(monkeypatch: pytest.MonkeyPatch) -> None:
    # pull with --offline touches no network: settings resolve, then the store is asked and is empty
    done = cli("pull", "phi-4-mini", "--offline", "--verbose", "--profile", "edge", env={"EDGEAGENT_CTX": "1536"})
    assert "context=1536 from EDGEAGENT_CTX" in done.stderr
    assert "profile=edge from --profile" in done.stderr
    assert done.returncode == 5


def test_serve_refuses_to_start_without_a_key_when_the_deployment_requires_one() -> None:
    done = cli("serve", "start", "no-such-model", "--deployment", "production")
    assert done.returncode == 2
    assert "API key is required (profile production)" in done.stderr and "Traceback" not in done.stderr


def test_settings_reach_llama_cpp_in_process_and_in_the_server() -> None:
    import llama_cpp

    from edgeagent_cli.core.agent.runtime.open import MAX_LOCAL_CONTEXT, llama_kwargs
    from edgeagent_cli.core.serve import engines

    s = resolve({"threads": 3}, profile="server", deployment="production", machine=LAPTOP)
    kw = llama_kwargs(s)
    assert kw["n_threads"] == 3 and kw["n_batch"] == 2048 and kw["use_mlock"] is True and kw["flash_attn"] is True
    assert kw["type_k"] == kw["type_v"] == llama_cpp.GGML_TYPE_Q8_0 and kw["n_ctx"] == MAX_LOCAL_CONTEXT
    opts = {k: s[k] for k in ("context", "parallel", "threads", "gpu_layers", "batch", "kv_cache_type", "flash_attn",
                              "mlock")}  # fmt: skip
    args = engines.command("llama-cpp", Path("m.gguf"), "m", 1234, "key", opts)
    assert args[args.index("--n_ctx") + 1] == "8192" and args[args.index("--type_v") + 1] == str(
        llama_cpp.GGML_TYPE_Q8_0
    )
    if engines.llama_server_binary():  # llama-server: every slot gets the whole context
        args = engines.command("llama-server", Path("m.gguf"), "m", 1234, "key", opts)
        assert args[args.index("-np") + 1] == "8" and args[args.index("-c") + 1] == str(8192 * 8)
        assert args[args.index("-ctv") + 1] == "q8_0" and args[args.index("-t") + 1] == "3" and "--mlock" in args
    plain = llama_kwargs(resolve({}, profile="edge", machine=LAPTOP))
    assert "type_k" not in plain and plain["flash_attn"] is None and plain["n_batch"] == 512  # llama.cpp decides
