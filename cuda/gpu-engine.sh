#!/usr/bin/env bash
# gpu-engine.sh — the Java engine on a GPU machine that has no JDK: a jlink'ed runtime and the
# engine's jar are prepared here and carried there (.device-carry/, git-ignored, ~50 MiB).
#
#   cuda/gpu-engine.sh prepare            # here (JDK 25): builds the jar, links the runtime,
#                                         # copies the Mixtral traces from ../shared
#   cuda/gpu-engine.sh run LOG_DIR [--mixtral]   # on the GPU machine, from the repository root
#
# `run` steps (each logs to LOG_DIR/<step>.log; a failing step does not stop the others):
#   env           GPU, driver, commit, the carried runtime
#   info-cuda     `info` of the demo model on the CUDA backend (loads the CUDA library)
#   generate      32 greedy tokens of the demo model on CPU and on CUDA; the two texts are
#                 compared (report only: float sums in another order may flip a near tie)
#   bench-demo    the demo model's policy bench on CUDA over its 12 held-out prompts (real
#                 link: its 0.11 MiB experts copy in microseconds, so this checks that every
#                 policy produces the all-resident tokens on CUDA, not the speed-ups)
#   with --mixtral, after those (docs/replay.md):
#   mixtral-create   a random-weight checkpoint with Mixtral-8x7B's 32 layers, 8 experts, top-2,
#                    hidden 4096 and experts narrowed to 3584 (12.9 B parameters, ~26 GB bf16)
#   mixtral-bench    4-bit experts, 4 slots per layer, gsm8k's routing replayed
# LOG_DIR/summary.log lists PASS/FAIL per step; the exit status is 1 if any failed. Where the
# gpu-check.sh build exists (build-gpu/lib), its libraries (built by this machine's toolkit) are
# used instead of the ones in the jar. LK_BACKEND=cpu rehearses the steps on a machine without a GPU
# (env then fails: no nvidia-smi).
set -u

root=$(cd "$(dirname "$0")/.." && pwd)
carry=$root/.device-carry

prepare() {
    local jdk=${LOOKAHEAD_JDK:-}
    if [ -z "$jdk" ]; then
        for d in "${JAVA_HOME:-}" /usr/lib/jvm/temurin-25-jdk-amd64 /usr/lib/jvm/*25*; do
            if [ -n "$d" ] && [ -x "$d/bin/jlink" ] &&
                "$d/bin/java" -XshowSettings:properties -version 2>&1 | grep -q 'java.specification.version = 2[5-9]'; then
                jdk=$d
                break
            fi
        done
    fi
    [ -n "$jdk" ] || { echo "gpu-engine: no JDK 25 with jlink found (set LOOKAHEAD_JDK)" >&2; return 1; }
    "$root/lookahead" --version >/dev/null || return 1 # builds the jar when the sources changed
    rm -rf "$carry"
    mkdir -p "$carry/traces"
    # java.base and the vector API are all the engine needs (java.desktop and java.sql are referenced
    # only by libraries' optional paths)
    "$jdk/bin/jlink" --add-modules java.base,jdk.incubator.vector --strip-debug --no-header-files \
        --no-man-pages --compress=zip-9 --output "$carry/jre" || return 1
    cp "$root/java/target/lookahead.jar" "$carry/lookahead.jar"
    local traces=$root/../shared/traces/mixtral-8x7b
    if [ -d "$traces" ]; then
        cp "$traces"/gsm8k.jsonl "$traces"/humaneval.jsonl "$carry/traces/"
    else
        echo "gpu-engine: $traces not found: --mixtral will have no trace" >&2
    fi
    local mib=$(( $(du -sk "$carry" | cut -f1) / 1024 ))
    echo "prepared $carry: $mib MiB (the device tool carries at most 64 MiB): run with carry [\".device-carry\"]"
    [ "$mib" -le 64 ]
}

run() {
    local out=$1 mixtral=${2:-}
    mkdir -p "$out" || return 2
    out=$(cd "$out" && pwd)
    [ -x "$carry/jre/bin/java" ] && [ -f "$carry/lookahead.jar" ] ||
        { echo "gpu-engine: $carry is missing: run '$0 prepare' where a JDK is, and carry it" >&2; return 2; }
    local native=()
    [ -f "$root/build-gpu/lib/liblookahead_cuda.so" ] && native=("-Dlookahead.native.dir=$root/build-gpu/lib")
    export LK_JAVA="$carry/jre/bin/java --enable-native-access=ALL-UNNAMED -Xss4m -Dlookahead.home=$root ${native[*]:-} -jar $carry/lookahead.jar"
    export LK_BACKEND=${LK_BACKEND:-cuda} # LK_BACKEND=cpu rehearses the script where there is no GPU
    export root carry
    local summary=$out/summary.log failed=0
    : > "$summary"
    step() {
        local name=$1 limit=$2
        shift 2
        local log=$out/$name.log t0=$SECONDS
        echo "== $name: $*" | tee -a "$summary"
        { echo "# $(date -u '+%Y-%m-%dT%H:%M:%SZ')  $*"; timeout "$limit" "$@"; } > "$log" 2>&1
        local rc=$?
        local verdict=PASS
        [ $rc -eq 0 ] || { verdict="FAIL (exit $rc$([ $rc -eq 124 ] && echo ', timed out'))"; failed=1; }
        echo "   $verdict in $((SECONDS - t0)) s -> $log" | tee -a "$summary"
        return $rc
    }
    step env 60 bash -c 'echo "commit: $(git -C "$root" rev-parse HEAD 2>/dev/null)"; date -u;
        { nvidia-smi || [ "$LK_BACKEND" = cpu ]; } || exit 1;
        nvidia-smi --query-gpu=name,driver_version,memory.total,pcie.link.gen.current,pcie.link.width.current --format=csv;
        $LK_JAVA --version'
    step info-cuda 300 bash -c '$LK_JAVA info "$root/models/demo" --backend $LK_BACKEND'
    step generate 600 bash -c 'p="The old man looked at the"
        $LK_JAVA generate "$root/models/demo" -p "$p" -n 32 --backend cpu > "$0.cpu" &&
        $LK_JAVA generate "$root/models/demo" -p "$p" -n 32 --backend $LK_BACKEND > "$0.cuda" &&
        if diff "$0.cpu" "$0.cuda"; then echo "CPU and CUDA texts are identical"; else echo "CPU and CUDA texts differ (report)"; fi' \
        "$out/generate"
    step bench-demo 900 bash -c '$LK_JAVA bench --backend $LK_BACKEND --expert-bits 4 -n 64 -k 4 --repeat 2 \
        --prompts "$root/models/demo/bench-prompts.txt" \
        --policies all-resident,mixtral-offloading,next-layer,lru-global,lookahead,lookahead-global'
    if [ "$mixtral" = "--mixtral" ]; then
        local work=${LK_WORK:-/tmp/lk-mixtral}
        export work
        export hidden=${LK_MIXTRAL_HIDDEN:-4096} intermediate=${LK_MIXTRAL_INTERMEDIATE:-3584} # smaller: a rehearsal
        step mixtral-create 1800 bash -c 'rm -rf "$work" && $LK_JAVA create-model "$work" --layers 32 --hidden $hidden \
            --intermediate $intermediate --heads 32 --kv-heads 8 --experts 8 --top-k 2 --vocab 32000 \
            --rope-theta 1000000 --max-positions 4096 --dtype bf16' &&
            step mixtral-bench 1800 bash -c '$LK_JAVA bench "$work" --backend $LK_BACKEND --expert-bits 4 -k 4 -n 64 \
                --routing-from "$carry/traces/gsm8k.jsonl" \
                --policies mixtral-offloading,next-layer,lru-global,lookahead,lookahead-global'
    fi
    if [ $failed -eq 0 ]; then echo "gpu-engine: all steps passed" | tee -a "$summary"
    else echo "gpu-engine: FAILED (see the logs above)" | tee -a "$summary"; fi
    return $failed
}

case "${1:-}" in
    prepare) prepare ;;
    run) [ $# -ge 2 ] || { echo "usage: $0 run LOG_DIR [--mixtral]" >&2; exit 2; }; run "$2" "${3:-}" ;;
    *) echo "usage: $0 prepare | run LOG_DIR [--mixtral]" >&2; exit 2 ;;
esac
