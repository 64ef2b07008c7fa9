"""Network trust shared by every client Fireside runs (model downloads, the Hub API)."""
