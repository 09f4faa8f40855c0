"""``python -m gfn_teach``: see :mod:`gfn_teach.cli`."""

import sys

from .cli import main

sys.exit(main())
