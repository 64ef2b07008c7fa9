"""Remote engines in the window: connections dialog, load targets."""
