"""Fireside: a desktop assistant that runs gpt-oss on your own machine."""

import os as _os

# llama.cpp's CPU backend runs on OpenMP, whose threads spin while they wait for each other.
# Measured on two cores with Gemma 3 270M: OpenMP's default spinning is fastest on an idle
# machine (49 tok/s) but collapsed to 0.8-3 tok/s while other processes were busy; passive
# waiting survived the load (16-27) but cost a quarter of the idle speed (36). A short spin of
# 2,000 iterations kept both: 49 idle and 21-22 under load. It must be set before libgomp loads,
# so here, before llama_cpp is imported; an explicit setting in the environment wins.
if "OMP_WAIT_POLICY" not in _os.environ:
    _os.environ.setdefault("GOMP_SPINCOUNT", "2000")

__version__ = "0.1.0"
