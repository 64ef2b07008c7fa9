"""What the command line reports as bad input: exit 2 with one line, never a traceback."""


class BadInput(Exception):
    """Input we can name the problem with: exit 2 with this message."""
