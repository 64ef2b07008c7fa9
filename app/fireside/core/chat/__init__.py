"""Conversations and turns: the data, the prompt formats, stream parsing, context fitting, the session."""
