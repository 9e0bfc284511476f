"""Where swictation-rpc keeps its files: platformdirs' user dirs, overridable from the environment.

``SWICTATION_DATA_DIR`` moves everything (tests use a throwaway one); ``SWICTATION_MODELS_DIR``
moves only the models, as does the ``models.modelsDir`` setting.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP_NAME = "swictation-rpc"


def data_dir() -> Path:
    override = os.environ.get("SWICTATION_DATA_DIR")
    return Path(override) if override else Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def models_dir(configured: str | None = None) -> Path:
    if configured:
        return Path(configured).expanduser()
    override = os.environ.get("SWICTATION_MODELS_DIR")
    return Path(override) if override else data_dir() / "models"


def history_dir() -> Path:
    return data_dir() / "history"


def log_dir() -> Path:
    override = os.environ.get("SWICTATION_DATA_DIR")
    if override:
        return Path(override) / "logs"
    return Path(platformdirs.user_log_dir(APP_NAME, appauthor=False))


def ensure_private_dir(path: Path) -> Path:
    """Create ``path`` readable by the user only: it holds what the user said.

    Missing parents are created 0700 too (as the XDG spec asks), whatever the umask: with
    ``mkdir(parents=True)`` they would get 0777 minus the umask, e.g. a world-writable
    ``~/.local/share/swictation-rpc`` under umask 0. Folders that already exist are left as they are.
    """
    missing = []
    folder = Path(path)
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    for folder in reversed(missing):
        folder.mkdir(mode=0o700, exist_ok=True)
    return path
