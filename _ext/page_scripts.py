"""Sphinx extension: which scripts each built page loads.

1. Every script once. sphinx-thebe (the theme's launch buttons) and sphinx-togglebutton
   register their inline configuration, e.g. ``const THEBE_JS_URL = ...``, both with Sphinx's
   registry and with the HTML builder; the two copies differ only in the inline script's file
   name (``None`` against ``""``), so Sphinx's own duplicate check misses them, pages carried
   both, and the browser raised ``Identifier 'THEBE_JS_URL' has already been declared`` on
   load. Scripts with the same file (or inline body) and attributes are kept once here.
2. The live panels' scripts (``_static/gfn_live/``: a reward explorer and in-browser
   training, plain JavaScript) only on the pages that hold a panel placeholder,
   ``<div id="gfn-reward-explorer">`` or ``<div id="gfn-training-panel">``. Jupyter Book adds
   every ``.js`` and ``.css`` under ``_static/`` to every page; they are taken out of the
   global lists here and added, in dependency order, to the pages that need them.
"""

from __future__ import annotations

from pathlib import Path

LIVE_DIR = "gfn_live"
# Load order: the maths first, then drawing, the panels, and boot.js, which mounts them.
LIVE_SCRIPTS = [
    "hypergrid.js",
    "policy.js",
    "losses.js",
    "train.js",
    "draw.js",
    "explorer.js",
    "trainer_panel.js",
    "boot.js",
]
LIVE_STYLES = ["gfn_live.css"]
PANEL_IDS = ("gfn-reward-explorer", "gfn-training-panel")


def _is_live(entry) -> bool:
    name = entry[0] if isinstance(entry, (tuple, list)) else entry
    return isinstance(name, str) and name.startswith(LIVE_DIR + "/")


def _drop_global_live_assets(app, config):
    """Keep the live panels' files out of every page's global script and style lists."""
    config.html_js_files = [e for e in config.html_js_files if not _is_live(e)]
    config.html_css_files = [e for e in config.html_css_files if not _is_live(e)]
    here = Path(app.srcdir) / "_static" / LIVE_DIR
    missing = [n for n in LIVE_SCRIPTS + LIVE_STYLES if not (here / n).is_file()]
    if missing:
        raise FileNotFoundError(f"_static/{LIVE_DIR}/ lacks {', '.join(missing)}")


def _page_assets(app, pagename, templatename, context, doctree):
    scripts = context.get("script_files")
    if isinstance(scripts, list):
        seen, unique = set(), []
        for js in scripts:
            # an inline script has filename None or "" depending on how it was registered
            key = (js.filename or "", tuple(sorted(js.attributes.items())))
            if key not in seen:
                seen.add(key)
                unique.append(js)
        scripts[:] = unique
    body = context.get("body") or ""
    if any(f'id="{panel}"' in body for panel in PANEL_IDS):
        for name in LIVE_STYLES:
            app.add_css_file(f"{LIVE_DIR}/{name}")
        for name in LIVE_SCRIPTS:
            app.add_js_file(f"{LIVE_DIR}/{name}", loading_method="defer")


def setup(app):
    # After Jupyter Book has put every _static/ file into html_js_files / html_css_files,
    # before Sphinx converts those lists (priority 800).
    app.connect("config-inited", _drop_global_live_assets, priority=700)
    app.connect("html-page-context", _page_assets)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
