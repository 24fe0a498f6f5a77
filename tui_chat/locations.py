"""Where tui-chat keeps its files. Only computes paths: directories are made when written."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from platformdirs import PlatformDirs

APP_NAME = "tui-chat"


def _dirs() -> PlatformDirs:
    from platformdirs import PlatformDirs

    return PlatformDirs(APP_NAME, appauthor=False)


def config_file() -> Path:
    return Path(_dirs().user_config_dir) / "config.toml"


def data_dir() -> Path:
    return Path(_dirs().user_data_dir)


def database_file() -> Path:
    return data_dir() / "conversations.db"


def log_dir() -> Path:
    return Path(_dirs().user_log_dir)


def log_file() -> Path:
    return log_dir() / "tui-chat.log"


def user_themes_dir() -> Path:
    return Path(_dirs().user_config_dir) / "themes"


def bundled_themes_dir() -> Path:
    """Shipped themes: inside the wheel, or the repository's themes/ in a checkout."""
    packaged = Path(__file__).parent / "data" / "themes"
    return packaged if packaged.is_dir() else Path(__file__).parents[1] / "themes"


def ensure_private_dir(path: Path) -> Path:
    """Create `path` (and parents) readable by the owner only."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        os.chmod(path, 0o700)
    except OSError:
        pass
    return path
