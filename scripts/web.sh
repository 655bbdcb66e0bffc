#!/usr/bin/env bash
# Builds the browser page into build/web/ (the WASM build, the page, the bundled examples) and,
# unless --build-only, serves it on http://localhost:${PORT:-8000}/ (any static server works; one that
# sends COOP and COEP headers, as this one does, gets the threads build).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -f build-wasm/pt2returnn_wasm.wasm ] || [ ! -f build-wasm/pt2returnn_wasm_threads.wasm ]; then
  bash scripts/setup.sh
  bash scripts/build.sh --no-asan >/dev/null
fi
rm -rf build/web
mkdir -p build/web/examples
cp web/*.html web/*.js web/*.css build/web/
cp wasm/pt2.mjs build/web/pt2.js  # .js: every static server sends it as JavaScript
cp build-wasm/pt2returnn_wasm.js build-wasm/pt2returnn_wasm.wasm build/web/
cp build-wasm/pt2returnn_wasm_threads.js build-wasm/pt2returnn_wasm_threads.wasm build-wasm/pt2returnn_wasm_threads.worker.js build/web/
cp examples/tiny_melgan.pt2 examples/tiny_melgan.checkpoint.pkl examples/tiny_encoder.pt2 build/web/examples/
echo "web: build/web/ is ready"
if [ "${1:-}" != "--build-only" ]; then
  echo "web: serving on http://localhost:${PORT:-8000}/ (Ctrl-C stops)"
  # Cross-origin isolated (COOP and COEP headers), so that the page has shared memory and runs the
  # threads build on every core; any static server without them gets the single-threaded build.
  cd build/web && exec python3 -c '
import http.server, sys
class Isolated(http.server.SimpleHTTPRequestHandler):
    def end_headers(self):
        self.send_header("Cross-Origin-Opener-Policy", "same-origin")
        self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
        super().end_headers()
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Isolated).serve_forever()' "${PORT:-8000}"
fi
