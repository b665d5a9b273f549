"""`python -m manymodels ...`: see :mod:`manymodels.cli`."""

import sys

from .cli import main

sys.exit(main())
