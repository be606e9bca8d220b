"""The domain layer: no Typer, no Rich. Commands call into it and render what it returns."""
