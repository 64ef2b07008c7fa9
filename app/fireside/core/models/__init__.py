"""Model files: GGUF reading and checks, installed models, folders, catalog, Hub, downloads, fit plans."""
