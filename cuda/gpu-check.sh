#!/usr/bin/env bash
# gpu-check.sh — everything the CUDA backend needs checked on a machine with an NVIDIA
# GPU (CUDA toolkit with nvcc and compute-sanitizer, CMake >= 3.25, gcc; no Java).
#
#   cuda/gpu-check.sh LOG_DIR
#
# Steps (each logs to LOG_DIR/<step>.log; a failing step does not stop the others):
#   env        GPU, driver, toolkit, PCIe link, commit
#   build      Release configure + build of everything (CPU and CUDA backends, tools)
#   ctest      all CTest entries (CPU harness, runtime, transfer_cpu, the host decode
#              test and the fused-router GPU test)
#   parity     lk_harness --a cuda --b cpu: every op over its shape table, CUDA vs CPU
#              vs a double-precision host reference, plus the API error paths
#   memcheck / racecheck / synccheck / initcheck
#              compute-sanitizer over the same harness run (its shapes are small:
#              at most 4096 x 256 matrices and 1000-token caches) and, for memcheck,
#              over the fused-router test
#   bench      lk_harness --bench --a cuda (timings, GB/s; d2d copy = device ceiling)
#   transfer   lk_transfer --backend cuda (pinned H2D alone, during compute, async return)
# LOG_DIR/summary.log lists PASS/FAIL per step; the exit status is 1 if any failed.
# docs/gpu.md says what to copy into docs/gpu-results.md.
set -u

if [ $# -ne 1 ]; then
    echo "usage: $0 LOG_DIR" >&2
    exit 2
fi
out=$1
mkdir -p "$out" || exit 2
out=$(cd "$out" && pwd)
root=$(cd "$(dirname "$0")/.." && pwd)
build=${LK_BUILD_DIR:-$root/build-gpu}
jobs=$(nproc 2>/dev/null || echo 4)

sanitizer=$(command -v compute-sanitizer || true)
for d in "${CUDA_HOME:-}" /usr/local/cuda; do
    if [ -z "$sanitizer" ] && [ -n "$d" ] && [ -x "$d/bin/compute-sanitizer" ]; then
        sanitizer=$d/bin/compute-sanitizer
    fi
done

summary=$out/summary.log
: > "$summary"
failed=0

# step NAME TIMEOUT_S COMMAND...: runs the command with its output in NAME.log.
step() {
    local name=$1 limit=$2
    shift 2
    local log=$out/$name.log
    local t0=$SECONDS
    echo "== $name: $*" | tee -a "$summary"
    {
        echo "# $(date -u '+%Y-%m-%dT%H:%M:%SZ')  $*"
        timeout "$limit" "$@"
    } > "$log" 2>&1
    local rc=$?
    local verdict=PASS
    [ $rc -eq 0 ] || { verdict="FAIL (exit $rc$([ $rc -eq 124 ] && echo ', timed out'))"; failed=1; }
    echo "   $verdict in $((SECONDS - t0)) s -> $log" | tee -a "$summary"
    return $rc
}

env_report() {
    echo "commit: $(git -C "$root" rev-parse HEAD 2>/dev/null) $(git -C "$root" status --porcelain 2>/dev/null | wc -l) uncommitted change(s)"
    echo "date:   $(date -u)"
    echo "host:   $(uname -a)"
    echo "cpu:    $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2) x $(nproc)"
    nvidia-smi || return 1
    nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.max.memory,pcie.link.gen.max,pcie.link.width.max,pcie.link.gen.current,pcie.link.width.current --format=csv
    nvcc --version
    cmake --version | head -1
    gcc --version | head -1
    echo "compute-sanitizer: ${sanitizer:-not found}"
}

build_all() {
    cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release &&
        cmake --build "$build" --parallel "$jobs" &&
        test -f "$build/lib/liblookahead_cuda.so"
}

# timeout runs programs, not shell functions: export them and run them in bash -c.
export root build jobs sanitizer
export -f env_report build_all
step env 120 bash -c env_report
if step build 3600 bash -c build_all; then
    step ctest 1800 ctest --test-dir "$build" --output-on-failure
    step parity 1800 "$build/lk_harness" --a cuda --b cpu
    if [ -n "$sanitizer" ]; then
        for tool in memcheck racecheck synccheck initcheck; do
            step "$tool" 3600 "$sanitizer" --tool "$tool" --error-exitcode 1 --print-limit 200 \
                "$build/lk_harness" --a cuda --b cpu
        done
        step memcheck-router 900 "$sanitizer" --tool memcheck --error-exitcode 1 \
            "$build/lk_cuda_router_fused_test"
    else
        echo "== sanitizers: FAIL (compute-sanitizer not found; set CUDA_HOME)" | tee -a "$summary"
        failed=1
    fi
    step bench 1800 "$build/lk_harness" --bench --a cuda
    step transfer 900 "$build/lk_transfer" --backend cuda
fi

if [ $failed -eq 0 ]; then
    echo "gpu-check: all steps passed" | tee -a "$summary"
else
    echo "gpu-check: FAILED (see the logs above)" | tee -a "$summary"
fi
exit $failed
