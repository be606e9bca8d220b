"""`edgeagent serve`: managed OpenAI-compatible server processes."""
