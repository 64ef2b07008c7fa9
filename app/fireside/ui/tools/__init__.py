"""The Tools dialog: MCP servers, their tools and the python tool, each on or off."""
