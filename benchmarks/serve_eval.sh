#!/usr/bin/env bash
# Tool-call accuracy through `edgeagent serve` against the same model in-process, one after the other.
# Usage: benchmarks/serve_eval.sh MODEL.gguf [BFCL_DIR] [CATEGORY]
#   -> benchmarks/results/serve_eval_{in_process,endpoint}.json and a two-line comparison
set -euo pipefail
cd "$(dirname "$0")/.."
model=$1
dir=${2:-../shared/bfcl}
category=${3:-simple_python}
home=$(mktemp -d)
export EDGEAGENT_HOME=$home
trap '.venv/bin/edgeagent serve stop >/dev/null 2>&1 || true; rm -rf "$home"' EXIT
.venv/bin/edgeagent models import "$model" --name m >/dev/null
.venv/bin/edgeagent eval tools m -q "$dir" --category "$category" --json > benchmarks/results/serve_eval_in_process.json
url=$(.venv/bin/edgeagent serve start m --json | .venv/bin/python -c "import json, sys; print(json.load(sys.stdin)['base_url'])")
.venv/bin/edgeagent eval tools --endpoint "$url" -q "$dir" --category "$category" --json > benchmarks/results/serve_eval_endpoint.json
.venv/bin/python - <<'PY'
import json
for where in ("in_process", "endpoint"):
    doc = json.load(open(f"benchmarks/results/serve_eval_{where}.json"))
    for cat, fig in doc["by_category"].items():
        print(f"{where:11} {cat:14} accuracy {fig['accuracy']:.3f}  well-formed {fig['well_formed']}  "
              f"called {fig['call_rate']}  {fig['seconds_per_entry']:.2f} s/entry")
PY
