#!/usr/bin/env bash
# BFCL tool-calling figures for a model, every shared category, with the grammar (and simple without):
#   benchmarks/bfcl_all.sh MODEL [BFCL_DIR]
# writes benchmarks/results/bfcl_<category>[_nogrammar].json and prints one summary line each.
set -euo pipefail
cd "$(dirname "$0")/.."
model=$1
dir=${2:-tests/data/bfcl}
run() {  # category, extra flags...
  local cat=$1; shift
  local answers=()
  [[ -f $dir/possible_answer/BFCL_v4_$cat.json ]] && answers=(-a "$dir/possible_answer/BFCL_v4_$cat.json")
  local suffix=""; [[ " $* " == *" --no-grammar "* ]] && suffix=_nogrammar
  local start=$SECONDS
  .venv/bin/edgeagent eval tools "$model" -q "$dir/BFCL_v4_$cat.json" "${answers[@]}" "$@" --json \
    > "benchmarks/results/bfcl_${cat}${suffix}.json" 2> "benchmarks/results/bfcl_${cat}${suffix}.log"
  python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(sys.argv[2], 'accuracy', d['accuracy'], 'well_formed', d['well_formed'], 'call_rate', d['call_rate'], 's/entry', d['seconds_per_entry'], 'wall', sys.argv[3], 's')" \
    "benchmarks/results/bfcl_${cat}${suffix}.json" "$cat$suffix" "$((SECONDS - start))"
}
run simple_python
run simple_python --no-grammar
run irrelevance
run multiple
run parallel
run parallel_multiple
