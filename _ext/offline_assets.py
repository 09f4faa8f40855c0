"""Sphinx extension: keep the built book free of needless CDN requests.

matplotlib's ``Animation.to_jshtml()`` output starts with a
``<link rel="stylesheet" href="https://maxcdn.bootstrapcdn.com/font-awesome/...">``
for its button icons.  The book theme already ships Font Awesome locally, so
the link is dropped from every HTML page after the build; the animation
controls keep working (they also carry ``title``/``aria-label`` text).
"""

from __future__ import annotations

import re
from pathlib import Path

_CDN_LINK = re.compile(
    r"<link\s+rel=\"stylesheet\"\s+href=\"https://maxcdn\.bootstrapcdn\.com/font-awesome/[^\"]*\"\s*/?>",
    re.IGNORECASE,
)


def _strip_cdn_links(app, exception):
    if exception is not None or app.builder.format != "html":
        return
    for path in Path(app.outdir).rglob("*.html"):
        text = path.read_text(encoding="utf-8")
        new = _CDN_LINK.sub("", text)
        if new != text:
            path.write_text(new, encoding="utf-8")


def setup(app):
    app.connect("build-finished", _strip_cdn_links)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
