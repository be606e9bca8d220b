.PHONY: setup demo test lint completions

setup:  ## create .venv with edgeagent and a llama-cpp-python build that works on this CPU
	scripts/setup.sh

demo:  ## the main job on the default model: detect, pull, bench, chat
	scripts/demo.sh

test: setup  ## lint, type check, then the whole test suite (slow tests included)
	.venv/bin/ruff check edgeagent_cli tests benchmarks
	.venv/bin/mypy edgeagent_cli
	.venv/bin/python -m pytest -q

lint:
	.venv/bin/ruff check edgeagent_cli tests benchmarks
	.venv/bin/mypy edgeagent_cli

completions:  ## regenerate completions/ from the app
	.venv/bin/python -m edgeagent_cli.cli.completion completions
