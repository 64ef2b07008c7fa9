"""The conversation on screen: the Qt model, transcript, composer, reasoning panel, the worker."""
