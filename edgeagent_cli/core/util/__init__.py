"""Helpers that several domains share: files, hashing, statistics, HTTP, YAML data files, processes."""
