#!/usr/bin/env bash
# Fuzzes every reader with libFuzzer for a fixed budget each, failing on any crash, sanitizer
# report, leak, timeout or out-of-memory. What CI runs (scripts/test.sh: 20 s each), and the
# long runs of docs/fuzzing.md (more seconds, or --runs N).
#
#   bash tests/fuzz/run_fuzz.sh [--seconds S] [--runs N] [--jobs J] [HARNESS...]
#
# Builds build-fuzz/ with clang (-DPT2_FUZZ=ON: -fsanitize=fuzzer,address,undefined), makes the
# seed corpora (tests/fuzz/make_corpus.py, needs build/fixtures and build/pt2returnn), then
# runs each harness on a working copy of its seeds and regression inputs under build/fuzz/work/.
# A crashing input is written to build/fuzz/artifacts/<harness>/. Logs: build/fuzz/logs/.
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=30 runs=-1 jobs=1 setup=1 harnesses=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds=$2; shift 2 ;;
    --runs) runs=$2; seconds=0; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    --no-setup) setup=0; shift ;;  # build-fuzz/ and build/fuzz/seeds are made already
    -*) echo "run_fuzz.sh: unknown flag $1" >&2; exit 2 ;;
    *) harnesses+=("$1"); shift ;;
  esac
done
all=(zip torch_save pt2_archive pt2_entries safetensors json tf_checkpoint reload apply_checkpoint)
[ ${#harnesses[@]} -gt 0 ] || harnesses=("${all[@]}")

if [ $setup = 1 ]; then
  cc=$(command -v clang || command -v clang-14 || true)
  [ -n "$cc" ] || { echo "run_fuzz.sh: clang is not installed (scripts/setup.sh installs it)" >&2; exit 2; }
  CC=$cc cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_FLAGS=-O1 -DPT2_FUZZ=ON -DPT2_WERROR=ON >/dev/null
  cmake --build build-fuzz -j "$(nproc 2>/dev/null || echo 2)" --target $(printf 'fuzz_%s ' "${harnesses[@]}") >/dev/null
  .venv/bin/python tests/fuzz/make_corpus.py build/fixtures build/fuzz --pt2returnn build/pt2returnn
fi
mkdir -p build/fuzz/logs
failed=()
for h in "${harnesses[@]}"; do
  work=build/fuzz/work/$h artifacts=build/fuzz/artifacts/$h
  mkdir -p "$work" "$artifacts"
  cp -n build/fuzz/seeds/$h/* build/fuzz/regressions/$h/* "$work"/ 2>/dev/null || true
  log=build/fuzz/logs/$h.log
  # Whole archives for the .pt2 readers; the other formats fit in less, and a shorter input runs faster.
  case $h in pt2_archive|pt2_entries|apply_checkpoint|reload) max_len=262144 ;; zip|torch_save) max_len=16384 ;; *) max_len=4096 ;; esac
  # -timeout: one input may take 10 s (a hang is a finding); -rss_limit_mb: a reader bounded by
  # 32x its input plus 64 MiB stays far below 2 GB with ASan's overhead.
  parallel=()  # libFuzzer's -jobs forks workers that log to fuzz-N.log: only when asked for
  [ "$jobs" -gt 1 ] && parallel=(-jobs="$jobs" -workers="$jobs")
  if ./build-fuzz/fuzz_$h "$work" -max_total_time="$seconds" -runs="$runs" "${parallel[@]}" \
      -timeout=10 -rss_limit_mb=2048 -max_len=$max_len -print_final_stats=1 \
      -artifact_prefix="$artifacts/" >"$log" 2>&1; then
    echo "fuzz: $h: $(grep -E '^stat::number_of_executed_units' "$log" | awk '{print $2}') runs, $(grep -E '^stat::average_exec_per_sec' "$log" | awk '{print $2}') exec/s, $(grep -oE 'cov: [0-9]+' "$log" | tail -1)"
  else
    echo "fuzz: $h: FAILED (see $log and $artifacts/)"
    tail -40 "$log"
    failed+=("$h")
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: findings in: ${failed[*]}"
  exit 1
fi
