"""Fireside's Qt layer: windows, models and the workers that run core code off the GUI thread."""
