"""`python -m manymodels ...`: see :mod:`manymodels.cli`."""

import sys

from .results.cli import main

sys.exit(main())
