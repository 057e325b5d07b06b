"""`python -m predictivity.bench`: the regression benchmark (see :mod:`predictivity.bench.regression`)."""

import sys

from predictivity.bench.regression import main

sys.exit(main())
