#!/usr/bin/env bash
# The whole peerlink test suite: exactly what CI runs (via .ci/run) and what the README's
# quick start tells developers to run. Stages, in order, stopping at the first failure:
#   1. g++ RelWithDebInfo build in build/ (tests + bench), ctest, then the interop matrix table
#      (tests/interop/matrix.py over the JUnit report build/ctest-junit.xml)
#   2. clang-14 ASan+UBSan build in build-asan/ (tests + fuzzers), ctest (netns/interop/long
#      excluded: they ran in stage 1)
#   3. every fuzzer listed in build-asan/fuzzers.txt over a temp copy of fuzz/corpus/<name>/
#   4. clang-format-14 check of tracked sources
#   5. cmake --install build + build and run tests/install_consumer against the prefix
# The last line is "N passed, N failed", summed over the ctest runs.
#
# Knobs: JOBS (default 2), FUZZ_SECONDS (default 20), PEERLINK_SKIP_ASAN=1 (skips stages 2-3),
#        CTEST_TIMEOUT (per-test default, 300 s), PEERLINK_ASAN_ALL_LABELS=1 (also run
#        netns/interop/long tests under ASan).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
JOBS=${JOBS:-2}
FUZZ_SECONDS=${FUZZ_SECONDS:-20}
CTEST_TIMEOUT=${CTEST_TIMEOUT:-300}
export CCACHE_DIR=${CCACHE_DIR:-${HOME:-$ROOT/build}/.cache/ccache}
export CCACHE_MAXSIZE=${CCACHE_MAXSIZE:-5G}

passed=0
failed=0
stage="setup"
start_time=$SECONDS
tmp_root=$(mktemp -d "${TMPDIR:-/tmp}/peerlink-test.XXXXXX")

finish() {
  local rc=$?
  rm -rf "$tmp_root"
  echo
  if [ "$rc" -ne 0 ]; then
    echo "test.sh: FAILED in stage '$stage' (exit $rc) after $((SECONDS - start_time))s"
  else
    echo "test.sh: all stages passed in $((SECONDS - start_time))s"
  fi
  echo "$passed passed, $failed failed"
  exit "$rc"
}
trap finish EXIT

section() {
  stage=$1
  echo
  echo "==== [$(date +%H:%M:%S) +$((SECONDS - start_time))s] $1 ===="
}

die() {
  echo "test.sh: ERROR: $*" >&2
  exit 1
}

need() {
  for tool in "$@"; do
    command -v "$tool" >/dev/null 2>&1 || die "'$tool' not found; run scripts/install-deps.sh first"
  done
}

# run_ctest <build-dir> [extra ctest args...]: runs ctest, adds its counts to the totals,
# fails if any test failed or if no test ran at all.
run_ctest() {
  local dir=$1
  shift
  local log
  log="$tmp_root/ctest-$(basename "$dir").log"
  local rc=0
  (cd "$dir" && timeout -k 30 1800 ctest --output-on-failure --timeout "$CTEST_TIMEOUT" -j "$JOBS" "$@") \
    2>&1 | tee "$log" || rc=$?
  local line total fail
  line=$(grep -E '[0-9]+ tests? failed out of [0-9]+' "$log" | tail -n 1 || true)
  if [ -z "$line" ]; then
    die "ctest in $dir printed no summary (exit $rc); did it find any tests?"
  fi
  fail=$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\1/' <<<"$line")
  total=$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\2/' <<<"$line")
  passed=$((passed + total - fail))
  failed=$((failed + fail))
  [ "$total" -gt 0 ] || die "ctest in $dir ran no test"
  [ "$rc" -eq 0 ] || die "ctest in $dir: $fail of $total tests failed (exit $rc)"
}

section "checking tools"
need cmake ninja ctest g++ git timeout
if [ "${PEERLINK_SKIP_ASAN:-0}" != 1 ]; then need clang-14 clang++-14; fi
need clang-format-14
echo "jobs=$JOBS fuzz_seconds=$FUZZ_SECONDS ccache_dir=$CCACHE_DIR"

# ---------------------------------------------------------------------------------------------
section "1/5 release build (g++, RelWithDebInfo, build/)"
CC=gcc CXX=g++ cmake -S . -B build -G Ninja \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPEERLINK_BUILD_TESTS=ON -DPEERLINK_BUILD_BENCH=ON \
  -DPEERLINK_SANITIZE=OFF -DPEERLINK_BUILD_FUZZ=OFF
cmake --build build -j "$JOBS"

section "1/5 ctest (build/)"
# The whole output of passed tests goes into the JUnit report: the interop matrix is read from it.
run_ctest build --test-output-size-passed 1000000 --output-junit "$PWD/build/ctest-junit.xml"

section "1/5 interop matrix (from build/ctest-junit.xml; docs/interop.md has the latest)"
python3 tests/interop/matrix.py build/ctest-junit.xml

# ---------------------------------------------------------------------------------------------
if [ "${PEERLINK_SKIP_ASAN:-0}" = 1 ]; then
  section "2/5 + 3/5 ASan/UBSan and fuzzing: SKIPPED (PEERLINK_SKIP_ASAN=1)"
else
  section "2/5 sanitizer build (clang-14, ASan+UBSan, fuzzers, build-asan/)"
  # -O0 -g1: clang-14 compiles the sanitized tree about 3x faster than at RelWithDebInfo's -O2 -g
  # (one Beast-heavy file: 95 s vs 273 s), which keeps CI under its time budget; line tables are
  # enough for ASan/UBSan reports.
  CC=clang-14 CXX=clang++-14 cmake -S . -B build-asan -G Ninja \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPEERLINK_BUILD_TESTS=ON -DPEERLINK_BUILD_BENCH=OFF \
    -DPEERLINK_SANITIZE=ON -DPEERLINK_BUILD_FUZZ=ON \
    "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O0 -g1 -DNDEBUG" "-DCMAKE_C_FLAGS_RELWITHDEBINFO=-O0 -g1 -DNDEBUG"
  cmake --build build-asan -j "$JOBS"

  section "2/5 ctest (build-asan/)"
  export ASAN_OPTIONS=detect_leaks=1
  export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
  if [ "${PEERLINK_ASAN_ALL_LABELS:-0}" = 1 ]; then
    run_ctest build-asan
  else
    # Real-network and interop suites, and the long simulations (label "long": tens of simulated
    # seconds of two flows, minutes at -O0 with ASan), are slow here; they ran in stage 1.
    run_ctest build-asan -LE 'netns|interop|long'
  fi

  section "3/5 fuzzing (${FUZZ_SECONDS}s per target, $JOBS at a time)"
  [ -f build-asan/fuzzers.txt ] || die "build-asan/fuzzers.txt missing (fuzz/CMakeLists.txt writes it)"
  corpus_digest() { find fuzz/corpus -type f -print0 2>/dev/null | sort -z | xargs -0 -r sha256sum | sha256sum; }
  corpus_before=$(corpus_digest)
  # Targets run $JOBS at a time (each libFuzzer process uses one core).
  names=()
  while IFS= read -r name || [ -n "$name" ]; do
    name=${name//[[:space:]]/}
    [ -n "$name" ] && names+=("$name")
  done <build-asan/fuzzers.txt
  nfuzz=${#names[@]}
  declare -A fuzz_bin
  for name in "${names[@]}"; do
    bin=$(find build-asan -name "fuzz_$name" -type f -executable | head -n 1)
    [ -n "$bin" ] || die "fuzzer fuzz_$name listed in fuzzers.txt but no binary found under build-asan/"
    [ -d "fuzz/corpus/$name" ] || die "fuzzer $name has no committed seed corpus fuzz/corpus/$name/"
    fuzz_bin[$name]=$bin
  done
  run_fuzzer() {
    local name=$1 bin=$2 work="$tmp_root/fuzz-$1"
    mkdir -p "$work/corpus" "$work/artifacts"
    cp -a "fuzz/corpus/$name/." "$work/corpus/"
    if ! timeout -k 30 $((FUZZ_SECONDS + 300)) "$bin" -max_total_time="$FUZZ_SECONDS" -rss_limit_mb=2048 \
      -timeout=10 -print_final_stats=1 -artifact_prefix="$work/artifacts/" "$work/corpus" \
      >"$work/log" 2>&1; then
      touch "$work/failed"
    fi
  }
  running=0
  for name in "${names[@]}"; do
    echo "-- fuzz_$name: $(find "fuzz/corpus/$name" -type f | wc -l) seeds, ${fuzz_bin[$name]}"
    run_fuzzer "$name" "${fuzz_bin[$name]}" &
    running=$((running + 1))
    if [ "$running" -ge "$JOBS" ]; then
      wait -n || true
      running=$((running - 1))
    fi
  done
  wait || true
  for name in "${names[@]}"; do
    work="$tmp_root/fuzz-$name"
    if [ -e "$work/failed" ]; then
      tail -n 60 "$work/log"
      mkdir -p build-asan/fuzz-artifacts
      cp -a "$work/artifacts/." build-asan/fuzz-artifacts/ 2>/dev/null || true
      echo "crash inputs copied to build-asan/fuzz-artifacts/:"
      ls -l build-asan/fuzz-artifacts/ || true
      die "fuzz_$name found a crash, leak, timeout or OOM (reproduce: ${fuzz_bin[$name]} <artifact>)"
    fi
    echo "-- fuzz_$name:"
    grep -E '^(stat::number_of_executed_units|stat::new_units_added|Done [0-9]+ runs)' "$work/log" || true
  done
  echo "$nfuzz fuzz target(s) run"
  [ "$(corpus_digest)" = "$corpus_before" ] || die "fuzz/corpus/ changed during fuzzing (it must stay read-only)"
fi

# ---------------------------------------------------------------------------------------------
section "4/5 clang-format check"
mapfile -d '' sources < <(git ls-files -z -- src include tools tests bench fuzz examples |
  grep -z -E '\.(h|cc)$' || true)
echo "${#sources[@]} files"
if [ "${#sources[@]}" -gt 0 ]; then
  clang-format-14 --dry-run --Werror "${sources[@]}" ||
    die "clang-format-14 found misformatted files (fix: clang-format-14 -i <files>)"
fi

# ---------------------------------------------------------------------------------------------
section "5/5 install + consumer project"
prefix="$tmp_root/prefix"
cmake --install build --prefix "$prefix" >"$tmp_root/install.log" || {
  cat "$tmp_root/install.log"
  die "cmake --install build failed"
}
echo "installed $(find "$prefix" -type f | wc -l) files into $prefix"
consumer_build="$tmp_root/consumer-build"
CC=gcc CXX=g++ cmake -S tests/install_consumer -B "$consumer_build" -G Ninja \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_PREFIX_PATH="$prefix"
cmake --build "$consumer_build" -j "$JOBS"
# The consumer must compile against the installed headers, never the source tree.
if grep -q -E -- "-I$ROOT/(src|include)|-isystem $ROOT/(src|include)" "$consumer_build/compile_commands.json"; then
  die "install consumer picked up headers from the source tree instead of $prefix"
fi
"$consumer_build/install_consumer" || die "install consumer exited non-zero"

section "done"
