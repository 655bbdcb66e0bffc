#!/usr/bin/env bash
# Builds the browser page into build/web/ (the WASM build, the page, the bundled examples) and,
# unless --build-only, serves it on http://localhost:${PORT:-8000}/ (any static server works).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -f build-wasm/pt2returnn_wasm.wasm ]; then
  bash scripts/setup.sh
  bash scripts/build.sh --no-asan >/dev/null
fi
rm -rf build/web
mkdir -p build/web/examples
cp web/*.html web/*.js web/*.css build/web/
cp wasm/pt2.mjs build/web/pt2.js  # .js: every static server sends it as JavaScript
cp build-wasm/pt2returnn_wasm.js build-wasm/pt2returnn_wasm.wasm build/web/
cp examples/tiny_melgan.pt2 examples/tiny_melgan.checkpoint.pkl examples/tiny_encoder.pt2 build/web/examples/
echo "web: build/web/ is ready"
if [ "${1:-}" != "--build-only" ]; then
  echo "web: serving on http://localhost:${PORT:-8000}/ (Ctrl-C stops)"
  cd build/web && exec python3 -m http.server "${PORT:-8000}" --bind 127.0.0.1
fi
