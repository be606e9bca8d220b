"""Figures for the hardening issue, written to benchmarks/results/hardening.json:

- pull killed with SIGKILL at about 30% of SmolLM2 (98 MB) from the local Hub test server, then pulled
  again: bytes served in all, as a multiple of the file, and the sha256;
- a Hub that stalls after 10 MB: time until pull gives up, its exit code and its line;
- chat on a GGUF whose template loops (writing, and writing nothing): time to exit 2 and peak RSS,
  beside a normal one-shot chat.

    python benchmarks/hardening.py MODEL.gguf
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.gguf_craft import with_template  # noqa: E402
from tests.hubserver import HubServer, RemoteFile  # noqa: E402

REPO = "test/SmolLM2-135M-Instruct-GGUF"
FILE = "SmolLM2-135M-Instruct-Q4_1.gguf"
LOUD = "{% for i in range(99999) %}{% for j in range(99999) %}x{% endfor %}{% endfor %}"
SILENT = "{% for i in range(99999) %}{% for j in range(99999) %}{% endfor %}{% endfor %}"


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "edgeagent_cli", *args]


def resume(model: Path) -> dict:
    size = model.stat().st_size
    with HubServer() as hub, tempfile.TemporaryDirectory() as home:
        hub.add(REPO, FILE, RemoteFile(path=model))
        env = {**os.environ, "HF_ENDPOINT": hub.url, "EDGEAGENT_HOME": home}
        hub.faults.delay_per_chunk = 0.02
        proc = subprocess.Popen(
            cli("pull", f"hf:{REPO}:Q4_1"), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        part = 0
        while proc.poll() is None and part < 0.3 * size:
            time.sleep(0.05)
            part = sum(p.stat().st_size for p in Path(home, "partial").glob("**/*.part"))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        hub.faults.delay_per_chunk = 0.0
        done = subprocess.run(cli("pull", f"hf:{REPO}:Q4_1", "--json"), env=env, capture_output=True, text=True)
        doc = json.loads(done.stdout)
        return {
            "killed_at_share": round(part / size, 3),
            "served_multiple": round(hub.bytes_served / size, 3),
            "exit": done.returncode,
            "sha256": doc["stored"]["sha256"],
        }


def stall(model: Path) -> dict:
    with HubServer() as hub, tempfile.TemporaryDirectory() as home:
        hub.add(REPO, FILE, RemoteFile(path=model))
        hub.faults.stall_after = 10 * 2**20
        env = {**os.environ, "HF_ENDPOINT": hub.url, "EDGEAGENT_HOME": home}
        t0 = time.perf_counter()
        done = subprocess.run(cli("pull", f"hf:{REPO}:Q4_1"), env=env, capture_output=True, text=True)
        line = [x for x in done.stderr.splitlines() if x.startswith("error:")][-1]
        return {"seconds": round(time.perf_counter() - t0, 1), "exit": done.returncode, "line": line}


def template(model: Path, source: str | None) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        path = with_template(model, Path(tmp) / "m.gguf", source) if source is not None else model
        env = {**os.environ, "EDGEAGENT_HOME": tmp}
        args = cli("chat", str(path), "-p", "hi", "--no-builtins", "--max-tokens", "4", "--json")
        t0 = time.perf_counter()
        done = subprocess.run(["/usr/bin/time", "-f", "%M", *args], env=env, capture_output=True, text=True)
        lines = [x for x in done.stderr.splitlines() if x.strip()]
        return {
            "seconds": round(time.perf_counter() - t0, 2),
            "exit": done.returncode,
            "peak_rss_kib": int(lines[-1]),
            "line": next((x for x in lines if x.startswith("error:")), None),
        }


def main() -> None:
    model = Path(sys.argv[1])
    doc = {
        "command": f"python benchmarks/hardening.py {model.name}",
        "pull_kill_9_then_resume": resume(model),
        "pull_stalled_hub": stall(model),
        "chat_normal_template": template(model, None),
        "chat_template_loop_writing": template(model, LOUD),
        "chat_template_loop_silent": template(model, SILENT),
    }
    out = Path(__file__).resolve().parent / "results" / "hardening.json"
    out.write_text(json.dumps(doc, indent=2) + "\n")
    print(json.dumps(doc, indent=2))


if __name__ == "__main__":
    main()
