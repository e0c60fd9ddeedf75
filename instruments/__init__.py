"""Bundled instruments (YAML files beside this module) and the format they follow (`schema.py`)."""

from __future__ import annotations

from pathlib import Path

BUNDLED_DIR = Path(__file__).resolve().parent


def bundled_files() -> list[Path]:
    return sorted(BUNDLED_DIR.glob("*.yaml"))
