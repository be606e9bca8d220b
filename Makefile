.PHONY: setup demo test lint format completions

setup:  ## create .venv with edgeagent and a llama-cpp-python build that works on this CPU
	scripts/setup.sh

demo:  ## the main job on the default model: detect, pull, bench, chat
	scripts/demo.sh

test: setup  ## format, lint, type check, then the whole test suite (slow tests included)
	$(MAKE) lint
	.venv/bin/python -m pytest -q

lint:  ## the formatter owns the layout; ruff lints; mypy checks types
	.venv/bin/ruff format --check edgeagent_cli tests benchmarks
	.venv/bin/ruff check edgeagent_cli tests benchmarks
	.venv/bin/mypy edgeagent_cli

format:  ## let the formatter lay the code out
	.venv/bin/ruff format edgeagent_cli tests benchmarks

completions:  ## regenerate completions/ from the app
	.venv/bin/python -m edgeagent_cli.cli.completion completions
