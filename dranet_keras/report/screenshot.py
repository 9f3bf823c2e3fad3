"""A PNG of the rendered report, taken by headless Chromium's own `--screenshot` flag."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from dranet_keras.errors import UserError
from dranet_keras.io import atomic_path

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_chromium() -> str | None:
    """Path of a Chromium/Chrome binary on PATH, or None."""
    return next((path for name in CHROMIUM_NAMES if (path := shutil.which(name))), None)


def screenshot(html_path, png_path, width: int = 1280, height: int = 4000, timeout: float = 120.0) -> Path:
    """Save the top `width` x `height` pixels of the page `html_path` as `png_path`."""
    executable = find_chromium()
    if executable is None:
        raise UserError(f"--screenshot needs Chromium on PATH (tried {', '.join(CHROMIUM_NAMES)}); Debian: apt-get install chromium")
    png_path = Path(png_path)
    with tempfile.TemporaryDirectory(prefix="dranet-chromium-") as profile, atomic_path(png_path) as tmp:
        command = [
            executable, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
            f"--user-data-dir={profile}", f"--window-size={width},{height}", f"--screenshot={tmp}",
            Path(html_path).resolve().as_uri(),
        ]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0 or tmp.stat().st_size == 0:
            raise UserError(f"Chromium could not screenshot {html_path} (exit {done.returncode}): {done.stderr.strip()[-300:]}")
    return png_path
