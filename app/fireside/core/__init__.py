"""Fireside's core: plain Python, no Qt, tested with plain pytest."""
