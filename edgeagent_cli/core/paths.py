"""Where edgeagent keeps its state: everything lives under EDGEAGENT_HOME."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def home() -> Path:
    """EDGEAGENT_HOME, else the platform's user data directory (as `hf` and `llm` do)."""
    env = os.environ.get("EDGEAGENT_HOME")
    if env:
        path = Path(env).expanduser()
        if path.exists() and not path.is_dir():
            from edgeagent_cli.core.errors import EdgeError, ExitCode

            raise EdgeError(f"EDGEAGENT_HOME={env} is not a directory", "point it at a directory", ExitCode.USAGE)
        return path
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "edgeagent"
    if sys.platform == "win32":
        return Path(os.environ.get("LOCALAPPDATA", Path.home())) / "edgeagent"
    return Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share")) / "edgeagent"


def models_dir() -> Path:
    return home() / "models"


def partial_dir() -> Path:
    """Resumable downloads; never listed as models."""
    return home() / "partial"


def user_profiles_dir() -> Path:
    return home() / "profiles"


def servers_dir() -> Path:
    return home() / "servers"


def logs_dir() -> Path:
    return home() / "logs"


def package_data(name: str) -> Path:
    """A data folder shipped in the wheel (edgeagent_cli/<name>), or the checkout's top-level copy.

    The wheel maps the top-level `profiles/` into the package; an editable install reads the checkout.
    """
    package = Path(__file__).resolve().parent.parent
    inside = package / name
    if inside.exists():
        return inside
    return package.parent / name
