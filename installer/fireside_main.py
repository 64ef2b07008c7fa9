"""PyInstaller's entry script: the same `fireside` command that pip installs (fireside.cli:main)."""

import sys

from fireside.cli import main

if __name__ == "__main__":
    sys.exit(main())
