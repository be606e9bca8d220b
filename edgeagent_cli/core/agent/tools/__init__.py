"""Tools the agent can call: one shape (`toolbox.Tool`) for built-ins, Python-file tools and MCP tools."""

from edgeagent_cli.core.agent.tools.toolbox import NETWORK, READ, RISKS, SHELL, WRITE, Tool, Toolbox, ToolError

__all__ = ["NETWORK", "READ", "RISKS", "SHELL", "WRITE", "Tool", "ToolError", "Toolbox"]
