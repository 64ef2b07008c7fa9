"""Fireside: a desktop assistant that runs gpt-oss on your own machine."""

__version__ = "0.1.0"
