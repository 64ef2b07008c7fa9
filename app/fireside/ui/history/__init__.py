"""Saved chats in the window: sidebar, search, export and import, chat actions."""
