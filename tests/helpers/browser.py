"""Render a report in a real headless Chromium: a screenshot and the DOM after load.

No DevTools protocol: Chromium is run twice with plain flags, once with ``--screenshot`` and once
with ``--dump-dom``. The report's own inline script (``reports.html.CHECK_SCRIPT``) marks on
``<body>`` how many images it has and how many failed to decode, so the dumped DOM says
whether the page loaded and whether any image is broken. Every network feature Chromium has on
by default is switched off, so a page that needed the network would show broken images here.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

__all__ = ["find_chromium", "BrowserResult", "render_in_browser", "png_stats"]

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--hide-scrollbars",
    "--mute-audio",
)


def find_chromium() -> str | None:
    """The Chromium executable (env GANBENCH_CHROMIUM wins), or None when none is installed."""
    env = os.environ.get("GANBENCH_CHROMIUM")
    if env:
        return env if Path(env).exists() else None
    for name in CANDIDATES:
        p = shutil.which(name)
        if p:
            return p
    return None


@dataclass
class BrowserResult:
    png: Path  # the screenshot
    dom: str  # the DOM after load, as Chromium serialised it
    loaded: bool  # the page's load handler ran
    n_images: int  # <img> elements on the page
    broken_images: int  # of those, how many did not decode

    @property
    def ok(self) -> bool:
        return self.loaded and self.broken_images == 0


def _run(cmd: list[str], timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run(
        cmd, capture_output=True, text=True, timeout=timeout, env={**os.environ, "HOME": os.environ.get("HOME", "/tmp")}
    )


def render_in_browser(
    html_path: str | os.PathLike,
    png_path: str | os.PathLike,
    *,
    width: int = 1280,
    height: int = 4000,
    timeout: float = 120.0,
    chromium: str | None = None,
) -> BrowserResult:
    """Screenshot ``html_path`` to ``png_path`` and check its images in headless Chromium."""
    exe = chromium or find_chromium()
    if exe is None:
        raise FileNotFoundError("chromium is not installed (apt-get install chromium)")
    url = Path(html_path).resolve().as_uri()
    png_path = Path(png_path)
    png_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="ganbench-chromium-") as profile:
        base = [
            exe,
            *FLAGS,
            f"--user-data-dir={profile}",
            f"--window-size={width},{height}",
            "--virtual-time-budget=5000",
        ]
        shot = _run([*base, f"--screenshot={png_path}", url], timeout)
        if not png_path.is_file():
            raise RuntimeError(f"chromium wrote no screenshot (exit {shot.returncode}): {shot.stderr[-800:]}")
        dump = _run([*base, "--dump-dom", url], timeout)
    dom = dump.stdout
    body = re.search(r"<body([^>]*)>", dom)
    attrs = body.group(1) if body else ""

    def attr(name: str) -> str | None:
        m = re.search(rf'{name}="([^"]*)"', attrs)
        return m.group(1) if m else None

    return BrowserResult(
        png_path, dom, attr("data-loaded") == "1", int(attr("data-images") or 0), int(attr("data-broken-images") or 0)
    )


def png_stats(path: str | os.PathLike) -> dict[str, float]:
    """Pixel statistics of a screenshot: variance (blank pages have ~0) and the non-white fraction."""
    import numpy as np
    from PIL import Image

    a = np.asarray(Image.open(path).convert("L"), dtype=np.float64)
    return {"variance": float(a.var()), "non_white": float((a < 250).mean()), "height": a.shape[0], "width": a.shape[1]}
