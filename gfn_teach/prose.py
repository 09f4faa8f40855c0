"""Numbers in the book's prose come from the executed outputs: a cell glues them, the text cites them.

A cell calls ``glue("final_tv", tv)``; the Markdown writes ``{glue:text}`final_tv:.3f```, and
the book's build (myst-nb) puts the value the cell computed there, so a re-execution that
changes the number changes the sentence. This is myst-nb's ``glue(name, value, display=False)``,
written out here so that the chapters also run where myst-nb is not installed (Colab).
"""

from __future__ import annotations

import numpy as np
from IPython.core.formatters import format_display_data
from IPython.display import display

GLUE_PREFIX = "application/papermill.record/"


def glue(name: str, value):
    """Record ``value`` under ``name`` for the prose, without showing it; returns ``value``.

    A scalar array (NumPy or JAX) is glued as the Python number it holds, so that a format
    such as ``:.3f`` applies to it in the text.
    """
    if np.ndim(value) == 0 and hasattr(value, "dtype"):
        value = np.asarray(value).item()
    bundle, metadata = format_display_data(value)
    metadata["scrapbook"] = {"name": name, "mime_prefix": GLUE_PREFIX}
    display({GLUE_PREFIX + mime: data for mime, data in bundle.items()}, raw=True, metadata=metadata)
    return value
