"""`python -m fireside.cli`: the same as the `fireside` command (the tests run it this way)."""

import sys

from fireside.cli import main

sys.exit(main())
