"""Models: the GGUF reader, the local store, the catalog, fit estimates, pull, lockfiles, and sources."""
