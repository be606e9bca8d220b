"""A small MCP server, written with the official SDK, that the chat tests start over stdio."""

from __future__ import annotations

from mcp.server.mcpserver import MCPServer
from mcp_types import ToolAnnotations

server = MCPServer("edgeagent-test")


@server.tool(annotations=ToolAnnotations(read_only_hint=True))
def word_count(text: str) -> str:
    """Count the words in a text."""
    return f"{len(text.split())} words"


@server.tool()
def remember(note: str) -> str:
    """Store a note for later."""
    return f"stored: {note}"


if __name__ == "__main__":
    server.run("stdio")
