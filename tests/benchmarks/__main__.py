"""`python -m tests.benchmarks [--quick] [--only SECTION ...] [--out DIR]`: the suite (suite.py)."""

import sys

from tests.benchmarks.suite import main

sys.exit(main())
