"""``python -m wsexplore``: the same command line as the ``wsexplore`` script."""

from __future__ import annotations

import sys

from .cli import main

sys.exit(main())
