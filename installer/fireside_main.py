"""PyInstaller's entry script: the same `fireside` command that pip installs (fireside.cli:main)."""

import sys

if __name__ == "__main__":
    if sys.argv[1:2] == ["--fireside-load-check"]:  # core/models/load_check.py's child process
        from fireside.core.models.load_check import child_main

        sys.exit(child_main(sys.argv[2:]))
    from fireside.cli import main

    sys.exit(main())
