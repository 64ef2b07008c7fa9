"""Appearance and accessibility: stylesheet, theme, text size, screen-reader support."""
