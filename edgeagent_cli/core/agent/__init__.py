"""The tool-using agent: the loop, the chat session, BFCL evaluation, tool calls, runtimes and tools."""
