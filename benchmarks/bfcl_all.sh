#!/usr/bin/env bash
# BFCL tool-calling figures for a model, every shared category in one run, compared with the figures
# before issue 12 (benchmarks/results/bfcl_before.json):
#   benchmarks/bfcl_all.sh MODEL [BFCL_DIR] [OUT]
# writes OUT (default benchmarks/results/bfcl_after.json) and prints the table and the changes.
set -euo pipefail
cd "$(dirname "$0")/.."
model=$1
dir=${2:-tests/data/bfcl}
out=${3:-benchmarks/results/bfcl_after.json}
start=$SECONDS
.venv/bin/edgeagent eval tools "$model" -q "$dir" --compare benchmarks/results/bfcl_before.json --json > "$out" 2> "${out%.json}.log"
.venv/bin/python - "$out" "$((SECONDS - start))" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
for cat, fig in doc["by_category"].items():
    change = doc["compare"]["by_category"][cat]["accuracy"]
    print(f"{cat:18} accuracy {fig['accuracy']:.3f} (before {change['before']:.3f}), well-formed {fig['well_formed']}, "
          f"called {fig['call_rate']}, {fig['seconds_per_entry']:.2f} s/entry (median {fig['median_seconds']:.2f})")
print(f"wall {sys.argv[2]} s")
PY
