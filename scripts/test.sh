#!/usr/bin/env bash
# The whole test suite from a fresh clone: set up, build (native, sanitizers, WASM), make the
# fixtures with real PyTorch, then run the C tests (native and under ASan/UBSan), the Python
# tests against real PyTorch / TensorFlow / RETURNN, and the WASM and Node checks.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
bash scripts/setup.sh
bash scripts/build.sh

echo "test: making fixtures with PyTorch"
.venv/bin/python tests/fixtures/make_fixtures.py build/fixtures
.venv/bin/python tests/fixtures/make_bad_inputs.py build/fixtures/bad

failed=()
run() { local name=$1; shift; echo "test: $name"; if ! "$@"; then failed+=("$name"); fi; }

run "C unit tests (native)" ctest --test-dir build --output-on-failure
run "C unit tests (ASan+UBSan)" ctest --test-dir build-asan --output-on-failure
run "Python tests (native build)" env PT2_BUILD_DIR="$PWD/build" PT2_FIXTURES_DIR="$PWD/build/fixtures" \
  .venv/bin/python -m pytest -q tests/python
run "CLI tests under ASan+UBSan" env PT2_BUILD_DIR="$PWD/build-asan" PT2_FIXTURES_DIR="$PWD/build/fixtures" \
  .venv/bin/python -m pytest -q tests/python/test_bad_inputs.py tests/python/test_readers_vs_pytorch.py \
  tests/python/test_reference_run.py tests/python/test_convert_in_returnn.py tests/python/test_naming.py \
  tests/python/test_as_layer.py tests/python/test_flagship.py tests/python/test_lower_transformer.py tests/python/test_lower_time_ops.py \
  tests/python/test_cli_surfaces.py \
  tests/python/test_lower_catalogue.py tests/python/test_lower_matrix.py tests/python/test_ops_doc.py \
  tests/python/test_lower_encoders.py \
  tests/python/test_fuzz_regressions.py
run "fuzz: every reader for 30 s (libFuzzer, ASan+UBSan)" bash tests/fuzz/run_fuzz.sh --seconds 30
run "WASM module loads under Node" node wasm/wasm_smoke.mjs build-wasm
run "WASM module under Node" node tests/wasm/test_wasm_inspect.mjs build-wasm build/fixtures
run "npm package: parity with the native CLI, npm pack" node --test tests/node/
run "the page in Chromium" bash -c "bash scripts/web.sh --build-only && .venv/bin/python examples/flagship/make_mb_melgan.py build/flagship >/dev/null && node --test tests/web/test_page.mjs"

elapsed=$(( $(date +%s) - start ))
if [ ${#failed[@]} -gt 0 ]; then
  echo "test: FAILED: ${failed[*]} (${elapsed}s)"
  exit 1
fi
echo "test: all passed (${elapsed}s)"
