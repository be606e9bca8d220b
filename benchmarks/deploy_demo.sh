#!/usr/bin/env bash
# The shipped example deployment on this machine, SmolLM2 standing in for every model; then the
# distributed shape on loopback (two serve processes as nodes, one killed between requests) and
# monitor's check. Usage: benchmarks/deploy_demo.sh MODEL.gguf > benchmarks/results/deploy_demo.txt
set -u
cd "$(dirname "$0")/.."
EDGEAGENT_HOME=$(mktemp -d); export EDGEAGENT_HOME
WS=$(mktemp -d)
E=.venv/bin/edgeagent
run() { echo "\$ edgeagent $*"; $E "$@" 2>&1; echo "[exit $?]"; echo; }
$E models import "$1" --name smollm2-135m >/dev/null
run deploy check edge-assistant --stand-in smollm2-135m
run deploy check edge-assistant --stand-in smollm2-135m --max-memory 250MB
run deploy up edge-assistant --stand-in smollm2-135m
run deploy status
echo "\$ edgeagent chat --deployment edge-assistant --stand-in smollm2-135m -p 'What is 17*23?' --json"
(cd "$WS" && "$OLDPWD/$E" chat --deployment edge-assistant --stand-in smollm2-135m -p "What is 17*23?" --json 2>/dev/null) \
  | python3 -c "
import json, sys
d = json.load(sys.stdin)
print(json.dumps({k: d[k] for k in ('route', 'agent', 'handoffs', 'tool_calls', 'answer', 'timings', 'framework')}, indent=1))
for m in d['messages']:
    print('  message:', {k: m.get(k) for k in ('role', 'agent', 'model', 'content', 'tool_calls')})"
echo
run monitor --deployment edge-assistant --check --window 0.5
run monitor --deployment edge-assistant --check --threshold ttft_p95_ms=1 --window 0.5
echo "\$ tail -1 \$EDGEAGENT_HOME/logs/alerts.jsonl"; tail -1 "$EDGEAGENT_HOME/logs/alerts.jsonl"; echo
run deploy down edge-assistant

echo "# distributed shape: two nodes on loopback"
N1=$($E serve start smollm2-135m --name node-1 --json | python3 -c "import json,sys; print(json.load(sys.stdin)['base_url'])")
N2=$($E serve start smollm2-135m --name node-2 --json | python3 -c "import json,sys; print(json.load(sys.stdin)['base_url'])")
cat > "$WS/fleet.yaml" <<YAML
deployment:
  name: loop-fleet
  type: distributed-edge
  nodes:
    - {id: edge-1, endpoint: "$N1", agents: [helper, clerk], models: [smollm2-135m]}
    - {id: edge-2, endpoint: "$N2", agents: [helper], models: [smollm2-135m]}
  coordination: {load_balancing: false, failover: automatic}
  router: {method: keywords, default: helper}
  agents:
    - {name: helper, tools: [calculator], keywords: [what is]}
    - {name: clerk, tools: [list_dir], keywords: [files]}
YAML
cat "$WS/fleet.yaml"
.venv/bin/python - "$WS/fleet.yaml" <<'PY'
import json, subprocess, sys
from pathlib import Path
from edgeagent_cli.core.deploy import run
from edgeagent_cli.core.deploy.spec import load_file
dep = load_file(Path(sys.argv[1]))
s = run.open_session(dep, run.where_for(dep, None), {}, allow=[])
for q in ("What is 17*23?", None, "What is 12*12?"):
    if q is None:
        print("$ edgeagent serve stop node-1"); subprocess.run([".venv/bin/edgeagent", "serve", "stop", "node-1"]); continue
    d = s.ask(q)
    print(json.dumps({"question": q, "agent": d.agent, "answer": d.answer, "models": [m["model"] for m in d.messages if m["role"] == "assistant"],
                      "failovers": [e for e in d.events if e["kind"] == "failover"]}, indent=1))
s.close()
PY
$E serve stop >/dev/null
rm -rf "$EDGEAGENT_HOME" "$WS"
