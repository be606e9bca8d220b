#!/usr/bin/env bash
# Create .venv and install edgeagent, with a llama-cpp-python build that works on this CPU.
#
# Why not plain `pip install llama-cpp-python`: PyPI ships only its sdist, and the default build uses
# -march=native, which pulls in ggml's AMX kernels; on many Xeon VMs the first matrix multiply then
# dies with SIGILL (llama.cpp #26954, #28328). We build without GGML_NATIVE, with the SIMD levels the
# CPU has. pip's wheel cache is keyed by the sdist, not by CMAKE_ARGS, and can hand back a crashing
# wheel: so we build with --no-cache-dir into our own cache keyed by version + flags + Python.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}
LLAMA_CPP_VERSION=${LLAMA_CPP_VERSION:-0.3.36}

if [ -z "${CMAKE_ARGS:-}" ]; then
  CMAKE_ARGS="-DGGML_NATIVE=OFF"
  if [ -r /proc/cpuinfo ] && grep -qw avx2 /proc/cpuinfo; then
    for f in avx avx2 fma f16c; do
      grep -qw "$f" /proc/cpuinfo && CMAKE_ARGS="$CMAKE_ARGS -DGGML_$(echo "$f" | tr a-z A-Z)=ON"
    done
  fi
  if command -v nvidia-smi >/dev/null 2>&1 && command -v nvcc >/dev/null 2>&1 && [ -n "${EDGEAGENT_CUDA:-}" ]; then
    CMAKE_ARGS="$CMAKE_ARGS -DGGML_CUDA=ON"
  fi
fi
export CMAKE_ARGS

[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
# shellcheck disable=SC1091
. "$VENV/bin/activate"
python -m pip install -q --disable-pip-version-check --upgrade pip

pyver=$(python -c 'import sys; print("%d.%d" % sys.version_info[:2])')
# v2: the wheel is built from our own copy of the sdist in a kept build tree, so that llama.cpp's
# llama-server builds from the same sources with the same flags on top of the same objects.
key=$(printf 'v2|%s|%s|%s|%s' "$LLAMA_CPP_VERSION" "$CMAKE_ARGS" "$pyver" "$(uname -m)" | sha256sum | cut -c1-16)
cache="${XDG_CACHE_HOME:-$HOME/.cache}/edgeagent/wheels/$key"
src="$cache/src/llama_cpp_python-$LLAMA_CPP_VERSION"
build="$cache/build"
fetch_sources() {
  [ -d "$src" ] && return
  mkdir -p "$cache/src"
  python -m pip download -q --disable-pip-version-check --no-deps --no-binary :all: \
    "llama-cpp-python==$LLAMA_CPP_VERSION" -d "$cache/src"
  tar xzf "$cache/src/llama_cpp_python-$LLAMA_CPP_VERSION.tar.gz" -C "$cache/src"
}
if [ "$(cat "$VENV/.llama-build-key" 2>/dev/null)" != "$key" ] || ! python -c "import llama_cpp" 2>/dev/null; then
  if ! ls "$cache"/llama_cpp_python-*.whl >/dev/null 2>&1; then
    echo "building llama-cpp-python $LLAMA_CPP_VERSION with CMAKE_ARGS=\"$CMAKE_ARGS\" (takes 4-8 minutes on 2 cores)" >&2
    fetch_sources
    rm -rf "$build"  # a tree reconfigured for llama-server would build a different wheel
    SKBUILD_BUILD_DIR="$build" python -m pip wheel -q --no-cache-dir --no-deps "$src" -w "$cache"
  fi
  echo "$CMAKE_ARGS" > "$cache/cmake-args"  # for `bundle create --with-wheels`: how the wheel was built
  python -m pip install -q --disable-pip-version-check --no-deps --force-reinstall "$cache"/llama_cpp_python-*.whl
  echo "$key" > "$VENV/.llama-build-key"
fi
# llama.cpp's llama-server, the default serving engine: the same build tree, reconfigured to add the
# server target (no web UI, nothing downloaded); the objects the wheel built are reused.
server="$build/bin/llama-server"
if [ "${EDGEAGENT_SKIP_LLAMA_SERVER:-}" = "" ] && [ ! -x "$server" ] && [ -d "$build" ]; then
  echo "building llama-server from the same sources (1-2 minutes on 2 cores)" >&2
  fetch_sources
  if cmake -Wno-dev -S "$src" -B "$build" -DLLAVA_BUILD=OFF -DLLAMA_BUILD_TOOLS=ON -DLLAMA_BUILD_SERVER=ON \
       -DLLAMA_BUILD_UI=OFF -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
       >"$cache/llama-server-build.log" 2>&1 \
     && cmake --build "$build" -j"$(nproc)" --target llama-server >>"$cache/llama-server-build.log" 2>&1; then :; else
    tail -5 "$cache/llama-server-build.log" >&2
    echo "warning: llama-server did not build (log: $cache/llama-server-build.log); \`edgeagent serve\` will use --engine llama-cpp" >&2
  fi
fi
if [ -x "$server" ]; then
  ln -sf "$server" "$VENV/bin/llama-server"
fi
# llama-gguf-split, from the same configured tree (one source file): splits and merges GGUF files
split="$build/bin/llama-gguf-split"
if [ ! -x "$split" ] && [ -x "$server" ]; then
  cmake --build "$build" -j"$(nproc)" --target llama-gguf-split >>"$cache/llama-server-build.log" 2>&1 \
    || echo "warning: llama-gguf-split did not build (log: $cache/llama-server-build.log)" >&2
fi
if [ -x "$split" ]; then
  ln -sf "$split" "$VENV/bin/llama-gguf-split"
fi
python -m pip install -q --disable-pip-version-check -e ".[dev]"
echo "edgeagent is installed in $VENV (llama-cpp-python built with: $CMAKE_ARGS)" >&2
