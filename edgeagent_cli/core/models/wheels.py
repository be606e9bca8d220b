"""The wheels that install edgeagent on a machine with no package index, for `bundle create --with-wheels`.

Every distribution edgeagent needs at run time, at the version installed here (a constraints file),
through `pip wheel`: pure-Python and binary wheels come from the configured index, edgeagent itself
is built from its checkout (or fetched). llama-cpp-python is the exception: PyPI ships only its
sdist, so the wheel setup.sh built here (its flags recorded beside it) is taken as it is; it suits
machines with this CPU's instruction sets, Python and architecture (without one, nothing is
bundled: pip would build it with -march=native, the build setup.sh exists to avoid).
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

from edgeagent_cli.core.errors import EdgeError, ExitCode

DIST = "edgeagent-cli"
LLAMA = "llama-cpp-python"


def closure(name: str = DIST) -> dict[str, str]:
    """Installed distributions edgeagent needs at run time (extras left out), by canonical name."""
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    found: dict[str, str] = {}
    todo = [name]
    while todo:
        dist = metadata.distribution(todo.pop())
        key = canonicalize_name(dist.metadata["Name"])
        if key in found:
            continue
        found[key] = dist.version
        for text in dist.requires or []:
            req = Requirement(text)
            if req.marker and not req.marker.evaluate({"extra": ""}):
                continue
            try:
                metadata.distribution(req.name)
            except metadata.PackageNotFoundError:
                continue
            todo.append(req.name)
    return found


def built_llama_wheel() -> tuple[Path | None, str | None]:
    """The llama-cpp-python wheel setup.sh built for this venv, and the CMAKE_ARGS it was built with."""
    key_file = Path(sys.prefix) / ".llama-build-key"
    if not key_file.is_file():
        return None, None
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "edgeagent" / "wheels"
    folder = cache / key_file.read_text().strip()
    wheels = sorted(folder.glob("llama_cpp_python-*.whl"))
    flags = (folder / "cmake-args").read_text().strip() if (folder / "cmake-args").is_file() else None
    return (wheels[-1] if wheels else None), flags


def _source_dir() -> Path | None:
    """The checkout edgeagent was installed from, when it was (pip's direct_url.json)."""
    try:
        text = metadata.distribution(DIST).read_text("direct_url.json")
    except metadata.PackageNotFoundError:
        return None
    url = json.loads(text).get("url", "") if text else ""
    return Path(url[len("file://") :]) if url.startswith("file://") else None


def collect(out: Path, info: Callable[[str], None]) -> list[str]:
    """Fill `out` with the wheels; the notes say what a target needs to know."""
    out.mkdir(parents=True, exist_ok=True)
    versions = closure()
    notes = [f"wheels for Python {sys.version_info.major}.{sys.version_info.minor} on {sys.platform}/"
             f"{platform.machine()}: install with `pip install --no-index --find-links wheels {DIST}`"]  # fmt: skip
    constraints = out / "constraints.txt"
    constraints.write_text("".join(f"{n}=={v}\n" for n, v in versions.items() if n not in (DIST,)))
    llama, flags = built_llama_wheel()
    if llama is None:  # pip would build it from the sdist with -march=native: the build setup.sh avoids
        raise EdgeError(f"no {LLAMA} wheel built by scripts/setup.sh for this environment",
                        "run scripts/setup.sh, or bundle without --with-wheels", ExitCode.NOT_FOUND)  # fmt: skip
    notes.append(f"{llama.name}: built here with CMAKE_ARGS={flags or 'unknown'}; it runs on CPUs with those "
                 "instruction sets")  # fmt: skip
    src = _source_dir()
    target = [str(src)] if src and (src / "pyproject.toml").is_file() else [f"{DIST}=={versions[DIST]}"]
    cmd = [sys.executable, "-m", "pip", "wheel", "-q", "--disable-pip-version-check", "-w", str(out), "-c",
           str(constraints), "--find-links", str(llama.parent), *target]  # fmt: skip
    info(f"collecting wheels for {len(versions)} distributions")
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["pip failed"])[-1]
        raise EdgeError(f"could not collect the wheels: {last}", "bundle without --with-wheels", ExitCode.UNREACHABLE)
    constraints.unlink()
    return notes
