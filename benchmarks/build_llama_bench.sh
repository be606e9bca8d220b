#!/usr/bin/env bash
# Build llama-bench from the llama.cpp vendored in the llama-cpp-python sdist, with setup.sh's flags.
# Usage: benchmarks/build_llama_bench.sh [WORKDIR]  -> WORKDIR/build/bin/llama-bench (about 4.5 min on 2 cores)
set -euo pipefail
work=${1:-/tmp/llama-bench-build}
version=${LLAMA_CPP_VERSION:-0.3.36}
mkdir -p "$work" && cd "$work"
[ -f "llama_cpp_python-$version.tar.gz" ] || python3 -m pip download -q --no-deps --no-binary :all: "llama-cpp-python==$version" -d .
[ -d "llama_cpp_python-$version" ] || tar xzf "llama_cpp_python-$version.tar.gz"
cmake -S "llama_cpp_python-$version/vendor/llama.cpp" -B build -DCMAKE_BUILD_TYPE=Release \
  -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON \
  -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_SERVER=OFF >/dev/null
cmake --build build -j"$(nproc)" --target llama-bench >/dev/null
echo "$work/build/bin/llama-bench"
