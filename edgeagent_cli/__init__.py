"""edgeagent: detect, pull, bench and chat with small language models on your own hardware."""

__version__ = "0.1.0"
SCHEMA_VERSION = 1
