"""The command layer: one module per noun. Each parses, calls the domain, renders. Nothing else."""
