#!/usr/bin/env bash
# Builds the native CLI (build/), the AddressSanitizer+UBSan build (build-asan/) and the
# WebAssembly module (build-wasm/). Incremental. Flags: --native-only, --no-wasm, --no-asan.
set -euo pipefail
cd "$(dirname "$0")/.."
native=1 asan=1 wasm=1
for arg in "$@"; do
  case "$arg" in
    --native-only) asan=0; wasm=0 ;;
    --no-wasm) wasm=0 ;;
    --no-asan) asan=0 ;;
    *) echo "build.sh: unknown flag $arg" >&2; exit 2 ;;
  esac
done
jobs=$(nproc 2>/dev/null || echo 2)

if [ $native = 1 ]; then
  echo "build: native (build/)"
  cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DPT2_WERROR=ON >/dev/null
  cmake --build build -j "$jobs"
fi
if [ $asan = 1 ]; then
  echo "build: AddressSanitizer + UBSan (build-asan/)"
  cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DPT2_WERROR=ON -DPT2_SANITIZE=ON \
    -DPT2_FIXTURES_DIR="$PWD/build/fixtures" >/dev/null
  cmake --build build-asan -j "$jobs"
fi
if [ $wasm = 1 ]; then
  echo "build: WebAssembly (build-wasm/)"
  # Debian's emscripten needs Debian's node modules (acorn) for its optimiser.
  export NODE_PATH=/usr/share/nodejs
  emcmake cmake -S . -B build-wasm -DCMAKE_BUILD_TYPE=Release -DPT2_WERROR=ON >/dev/null
  cmake --build build-wasm -j "$jobs"
fi
if [ $wasm = 1 ]; then
  # One artifact for Node and the browser: the npm package carries the same module and glue.
  mkdir -p node/dist
  cp build-wasm/pt2returnn_wasm.js build-wasm/pt2returnn_wasm.wasm node/dist/
  cp wasm/pt2.mjs node/dist/pt2.mjs
  # The threads build, which Node loads: its glue reads `require` and `__dirname` in Node, which an
  # ES module lacks, so they are declared ahead of it; its worker script is CommonJS, which this
  # package ("type": "module") must name .cjs (node/index.js's locateFile).
  { echo "import { createRequire } from 'node:module'; import { fileURLToPath } from 'node:url';" \
         "const require = createRequire(import.meta.url), __dirname = fileURLToPath(new URL('.', import.meta.url));"
    cat build-wasm/pt2returnn_wasm_threads.js; } > node/dist/pt2returnn_wasm_threads.js
  cp build-wasm/pt2returnn_wasm_threads.wasm node/dist/
  cp build-wasm/pt2returnn_wasm_threads.worker.js node/dist/pt2returnn_wasm_threads.worker.cjs
fi
