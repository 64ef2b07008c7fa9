"""Tools the model can call. Qt-free; `python_sandbox` runs model-written code in a confined child.

Kept import-free on purpose: the sandbox's child process imports `fireside.core.tools.sandbox_child`
through this package, and it must start fast and load nothing but the standard library.
"""
