#!/usr/bin/env bash
# A bundle made here, installed where nothing can be reached, then run; a damaged copy refused; and
# plan for the captured devices. Usage: benchmarks/bundle_offline.sh MODEL.gguf > benchmarks/results/bundle_offline.txt
set -u
cd "$(dirname "$0")/.."
E="$PWD/.venv/bin/edgeagent"
W=$(mktemp -d)
run() { echo "\$ edgeagent $*"; "$E" "$@" 2>&1; echo "[exit $?]"; echo; }
export EDGEAGENT_HOME="$W/laptop"
"$E" models import "$1" --name smollm2-135m >/dev/null
run bundle create "$W/kiosk.tar" smollm2-135m --with-wheels --max-size 1GB
echo "# on the kiosk: no Hub, no package index"
export EDGEAGENT_HOME="$W/kiosk" HF_HUB_OFFLINE=1 HF_ENDPOINT=http://127.0.0.1:9 PIP_CONFIG_FILE=/dev/null PIP_NO_INDEX=1
mkdir -p "$W/x" && tar xf "$W/kiosk.tar" -C "$W/x" wheels && python3 -m venv "$W/venv"
echo "\$ pip install --no-index --find-links wheels edgeagent-cli"
"$W/venv/bin/pip" install -q --no-index --find-links "$W/x/wheels" edgeagent-cli 2>&1 | tail -2; echo "[exit ${PIPESTATUS[0]}]"; echo
E="$W/venv/bin/edgeagent"
run bundle install "$W/kiosk.tar"
run bundle install "$W/kiosk.tar"
run models verify
run bench smollm2-135m -r 2 -p 64 -n 16
run chat smollm2-135m -p "What is 17*23?"
echo "# one flipped byte"
python3 -c "import sys; d = bytearray(open(sys.argv[1], 'rb').read()); d[60_000_000] ^= 1; open(sys.argv[2], 'wb').write(d)" "$W/kiosk.tar" "$W/bad.tar"
export EDGEAGENT_HOME="$W/kiosk2"
run bundle install "$W/bad.tar"
run models ls
echo "# plan for the captured devices"
for d in rpi5-8gb xeon-amx-64gb h100-server; do run plan phi-4-mini qwen2.5-0.5b llama3.2-3b --device "tests/data/devices/$d.json"; done
rm -rf "$W"
