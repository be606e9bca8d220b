"""The command-line layer shared by every command: options, output, errors, the REPL, completions."""
