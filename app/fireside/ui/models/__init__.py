"""The model manager dialog, downloads and fit plans off the GUI thread, load settings."""
