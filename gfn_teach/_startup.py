"""Ctrl-C while ``python -m gfn_teach`` is still importing JAX: one line, not a traceback."""

from __future__ import annotations

import contextlib
import signal
import sys


@contextlib.contextmanager
def quiet_interrupt_while_importing():
    """While the package imports, and only when Python is locating it for ``python -m`` (the
    documented moment when ``sys.argv[0] == "-m"``), Ctrl-C exits at once with one line and
    status 130. A library import (a notebook, a script) keeps Python's own KeyboardInterrupt."""
    if sys.argv[:1] != ["-m"] or signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        yield
        return

    def interrupted(signum, frame):
        sys.stderr.write("python -m gfn_teach: interrupted while starting; nothing was done\n")
        raise SystemExit(130)

    signal.signal(signal.SIGINT, interrupted)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
