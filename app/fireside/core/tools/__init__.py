"""Tools the model can use: MCP servers (mcp.json), the python tool, and the registry that runs them.

Kept import-free on purpose: the sandbox's child process imports `fireside.core.tools.sandbox_child`
through this package, and it must start fast and load nothing but the standard library.
"""
