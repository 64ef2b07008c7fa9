"""The conversation history: SQLite store, schema, search, export, presets, streaming recorder."""
