"""Fireside: a desktop assistant that runs gpt-oss on your own machine."""

import os as _os

# llama.cpp's CPU backend runs on OpenMP. With OpenMP's default spin-waiting, a desktop where
# anything else is busy (a browser, a build) drops from ~27 to under 1 token/s on two cores, as
# the spinning threads fight for the cores they wait on. Passive waiting costs nothing measurable
# on an idle machine. It must be set before libgomp loads, so here, before llama_cpp is imported.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
