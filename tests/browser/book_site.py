"""Shared constants and helpers of the browser test (no fixtures here)."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

import yaml

ROOT = Path(__file__).resolve().parents[2]
HTML_DIR = ROOT / "_build" / "html"
SCREENSHOT_DIR = ROOT / "_build" / "screenshots"
CHROMIUM = os.environ.get("GFN_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# ipywidgets' static embedding (myst-nb's nb_ipywidgets_js) loads require.js and
# @jupyter-widgets/html-manager from these CDNs; nothing else may leave the machine.
TOLERATED_HOSTS = {"cdn.jsdelivr.net", "unpkg.com", "cdnjs.cloudflare.com"}
TOLERATED_URL_PARTS = ("require", "@jupyter-widgets", "jupyter-js-widgets")
LOCAL_HOSTS = {"127.0.0.1", "localhost"}


def toc_pages() -> list[str]:
    """Docnames listed in _toc.yml (root first), e.g. ``book/intro``."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    pages = [toc["root"]]

    def walk(entries):
        for entry in entries or []:
            if "file" in entry:
                pages.append(entry["file"])
            walk(entry.get("sections"))
            walk(entry.get("chapters"))

    walk(toc.get("chapters"))
    for part in toc.get("parts", []) or []:
        walk(part.get("chapters"))
    return [p.removesuffix(".ipynb").removesuffix(".md") for p in pages]


def source_of(docname: str) -> Path | None:
    for ext in (".ipynb", ".md"):
        path = ROOT / (docname + ext)
        if path.exists():
            return path
    return None


def is_tolerated(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme in ("data", "blob", "about"):
        return True
    if parts.hostname in LOCAL_HOSTS:
        return True
    return parts.hostname in TOLERATED_HOSTS and any(
        p in url for p in TOLERATED_URL_PARTS
    )
