#!/usr/bin/env bash
# serve locked down, as curl sees it. Usage: benchmarks/serve_lockdown.sh MODEL.gguf > benchmarks/results/serve_lockdown.txt
set -u
cd "$(dirname "$0")/.."
EDGEAGENT_HOME=$(mktemp -d); export EDGEAGENT_HOME
.venv/bin/edgeagent models import "$1" --name smol >/dev/null
U=$(.venv/bin/edgeagent serve start smol --api-key K --cors-origin https://app.example.com --json | python3 -c "import json,sys; print(json.load(sys.stdin)['base_url'])")
R=${U%/v1}
echo "$ curl -H 'Host: evil.example' -H 'Authorization: Bearer K' $U/models"
curl -s -o /dev/null -w "%{http_code}\n" -H 'Host: evil.example' -H 'Authorization: Bearer K' $U/models
echo "$ CORS preflight from https://other.example (headers shown)"
curl -s -i -X OPTIONS -H 'Origin: https://other.example' -H 'Access-Control-Request-Method: POST' $U/chat/completions | grep -i "^HTTP\|access-control" 
echo "$ CORS preflight from https://app.example.com"
curl -s -i -X OPTIONS -H 'Origin: https://app.example.com' -H 'Access-Control-Request-Method: POST' $U/chat/completions | grep -i "^HTTP\|access-control-allow-origin"
for p in /v1/models /v1/chat/completions /v1/completions /metrics /health; do
  printf "wrong key %-22s " $p; curl -s -o /dev/null -w "%{http_code}\n" -H 'Authorization: Bearer wrong' -X $([ $p = /v1/models ] || [ $p = /metrics ] || [ $p = /health ] && echo GET || echo POST) $R$p
done
curl -s -o /dev/null -H 'Authorization: Bearer K' $U/chat/completions -d '{"messages":[{"role":"user","content":"hi"}],"max_tokens":2}'
python3 -c "import json; print(json.dumps({'messages':[{'role':'user','content':'lorem ipsum dolor '*11400}]}))" > /tmp/big.json
ls -la /tmp/big.json | awk '{print "prompt body bytes:", $5}'
curl -s -w "\nHTTP %{http_code} in %{time_total} s\n" -H 'Authorization: Bearer K' $U/chat/completions --data-binary @/tmp/big.json | tail -c 250
.venv/bin/edgeagent serve stop >/dev/null
