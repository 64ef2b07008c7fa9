"""Tools the model can use: MCP servers (mcp.json), the python tool, and the registry that runs them."""
