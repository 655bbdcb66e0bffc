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
# The flagship's files, made once: both lanes' pytest read them (PT2_FLAGSHIP_DIR), so does the page.
.venv/bin/python examples/flagship/make_mb_melgan.py build/flagship >/dev/null
export PT2_FLAGSHIP_DIR="$PWD/build/flagship"

failed=()
run() { local name=$1; shift; echo "test: $name"; if ! "$@"; then failed+=("$name"); fi; }

# The sanitizer lane runs in the background, next to the native lane: each lane is mostly one
# process on one core (pytest, a CLI run, one RETURNN process, libFuzzer's single worker), and
# the machine has two. Nothing is shared between the lanes but read-only inputs (build/fixtures,
# examples/, the RETURNN native-op cache, which RETURNN locks): build-asan/ and build-fuzz/ with
# build/fuzz/ are the sanitizer lane's own, build/, build-wasm/, python/build/ the native lane's.
# Every test of both lanes still runs; the lane's log is printed whole when it ends, so that its
# lines do not interleave with the native lane's.
sanitizer_lane() {
  failed=()
  run "C unit tests (ASan+UBSan)" ctest --test-dir build-asan --output-on-failure
  # Every CLI path under ASan+UBSan: the readers and bad inputs, the reference run, the lowering
  # matrices and catalogues, the flagship, the fuzz regressions.
  run "CLI tests under ASan+UBSan" env PT2_BUILD_DIR="$PWD/build-asan" PT2_FIXTURES_DIR="$PWD/build/fixtures" \
    .venv/bin/python -m pytest -q tests/python/test_bad_inputs.py tests/python/test_readers_vs_pytorch.py \
    tests/python/test_reference_run.py tests/python/test_convert_in_returnn.py tests/python/test_naming.py \
    tests/python/test_as_layer.py tests/python/test_flagship.py tests/python/test_lower_transformer.py tests/python/test_lower_time_ops.py \
    tests/python/test_cli_surfaces.py \
    tests/python/test_lower_catalogue.py tests/python/test_lower_matrix.py tests/python/test_ops_doc.py \
    tests/python/test_lower_encoders.py \
    tests/python/test_fuzz_regressions.py
  # 20 s per reader: libFuzzer first replays the reader's whole corpus (seeds from every fixture
  # and the regression inputs), then mutates; test_fuzz_regressions.py replays the same corpus
  # through the <harness>_replay drivers under ASan in the lane's pytest above. Longer runs:
  # docs/fuzzing.md.
  run "fuzz: every reader for 20 s (libFuzzer, ASan+UBSan)" bash tests/fuzz/run_fuzz.sh --seconds 20
  printf '%s\n' "${failed[@]}" >build-asan/sanitizer_lane.failed
}
echo "test: sanitizer lane (C tests, CLI tests and fuzzing under ASan+UBSan) started in the background (log: build-asan/sanitizer_lane.log)"
rm -f build-asan/sanitizer_lane.failed
sanitizer_lane >build-asan/sanitizer_lane.log 2>&1 &
lane=$!

run "C unit tests (native)" ctest --test-dir build --output-on-failure
run "Python tests (native build)" env PT2_BUILD_DIR="$PWD/build" PT2_FIXTURES_DIR="$PWD/build/fixtures" \
  .venv/bin/python -m pytest -q tests/python
run "WASM module loads under Node" node wasm/wasm_smoke.mjs build-wasm
run "WASM module under Node" node tests/wasm/test_wasm_inspect.mjs build-wasm build/fixtures
run "npm package: parity with the native CLI, npm pack" node --test tests/node/
run "the page in Chromium" bash -c "bash scripts/web.sh --build-only && node --test tests/web/test_page.mjs"

echo "test: waiting for the sanitizer lane"
wait "$lane" || true
cat build-asan/sanitizer_lane.log
if [ -f build-asan/sanitizer_lane.failed ]; then
  while IFS= read -r name; do [ -n "$name" ] && failed+=("$name"); done <build-asan/sanitizer_lane.failed
else
  failed+=("sanitizer lane (ended without its result: see build-asan/sanitizer_lane.log)")
fi

elapsed=$(( $(date +%s) - start ))
if [ ${#failed[@]} -gt 0 ]; then
  echo "test: FAILED: ${failed[*]} (${elapsed}s)"
  exit 1
fi
echo "test: all passed (${elapsed}s)"
