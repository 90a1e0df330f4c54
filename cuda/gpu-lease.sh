#!/usr/bin/env bash
# gpu-lease.sh — every GPU check that fits one short lease of a GPU machine that has no JDK (and whose minutes
# count): the C harness and the Java engine, built here and carried there (.device-carry/, git-ignored).
#
#   cuda/gpu-lease.sh prepare                 # here (JDK 25, the native build): .device-carry/ (~25 MiB)
#   cuda/gpu-lease.sh run LOG_DIR [SECONDS]   # there, from the repository root; SECONDS (default 540) bounds it
#
# `run` phases; each step logs to LOG_DIR/<step>.log and a failing step does not stop the others:
#   1 (alone)     env: GPU, driver, link, disks, the commit the carried build came from; parity: lk_harness --a cuda --b cpu
#   2 (together)  compute-sanitizer memcheck / racecheck / synccheck / initcheck over that harness run and memcheck
#                 over the fused-router test; engine-smoke: the demo model's `info` and 32 greedy tokens on CPU and
#                 CUDA (texts compared, report only); mixtral-create: a random-weight checkpoint of Mixtral-8x7B's
#                 full shape written straight at 4-bit experts (25 GB, `create-model --expert-bits 4`)
#   3 (alone on the GPU, timed)
#                 bench: lk_harness --bench --a cuda (SM clock before and after); transfer: lk_transfer --backend
#                 cuda; qmatvec-dev: the development bench of the uniform decode matvec (and memcheck/racecheck over
#                 its validation in phase 2); ncu-qmatvec4/2: Nsight Compute sections of one decode matvec (the
#                 uniform kernel, which Mixtral's shapes run); sass: the 4-bit one's SASS;
#                 mixtral-bench: the policies at Mixtral-8x7B shape, 4-bit experts, 4 slots per layer (LK_MIXTRAL_SLOTS; the
#                 table also as LOG_DIR/mixtral-bench-<bits>bit.json, `bench --json`), in
#                 LK_MIXTRAL_REPEAT rounds (default 1; order rotated, medians: steadier ratios for twice the time) after
#                 LK_MIXTRAL_WARMUP unmeasured ones (`bench --warmup`; unset: bench's default, 1; each round of each policy
#                 loads the 25 GB model again, ~12 s at this shape, so 0 saves a third of a --repeat 2 bench), humaneval's
#                 routing replayed (docs/replay.md); LK_MIXTRAL_BITS="4 2" benches each width in turn (a width after
#                 the first is created here: mixtral-create-2bit, mixtral-bench-2bit), LK_MIXTRAL_POLICIES picks the
#                 policies; mixtral-ab (with LK_MIXTRAL_AB_FLAGS="--recurrence-tokens 0", say, and/or LK_MIXTRAL_AB_JAR=
#                 another build's jar, relative to the repository root and carried): mixtral-offloading
#                 and the lookahead policies again with those bench flags added; mixtral-profile: `lookahead profile` of the same model, all-resident and
#                 mixtral-offloading (LK_PROFILE_POLICIES) (where a token's time goes; Chrome traces beside the logs);
#                 demo-link (before the Mixtral steps): the demo model's policies on this GPU with the link emulated at
#                 Mixtral-8x7B's transfer / compute ratio (`bench --emulate-link`, LK_DEMO_LINK_BITS widths, default 4;
#                 LK_DEMO_LINK_TOKENS x LK_DEMO_LINK_REPEAT, default 128 x 3; demo-link-<bits>bit.json);
#                 bench-demo: every policy on the demo model over its 12 held-out prompts (each row must say
#                 `yes`), in whatever time is left
# LOG_DIR/summary.log lists PASS/FAIL per step; the exit status is 1 if any failed. Steps are cut short (FAIL,
# "timed out") so that the whole run ends inside SECONDS. LK_STEPS="a b ..." runs only the steps named; LK_BENCH_FILTER
# limits the bench step to the harness ops whose names contain it (e.g. qmatvec). LK_BACKEND=cpu rehearses the engine
# steps here, and LK_MIXTRAL_LAYERS/HIDDEN/INTERMEDIATE/VOCAB shrink the Mixtral model for that (the trace needs 32
# layers). LK_PACK=FILE packs LOG_DIR into FILE (.tar.gz) at the end: the device tool returns at most 8 files, so
# there run with LOG_DIR outside $OUT and LK_PACK=$OUT/lease.tar.gz.
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
    [ -n "$jdk" ] || { echo "gpu-lease: no JDK 25 with jlink found (set LOOKAHEAD_JDK)" >&2; return 1; }
    "$root/lookahead" --version >/dev/null || return 1 # builds the jar (and the native libraries) when sources changed
    local native=$root/bindings/target/native lib=$root/bindings/target/classes/native/linux-x86_64
    for f in "$native/lk_harness" "$native/lk_transfer" "$native/lk_cuda_router_fused_test" "$native/lk_qmatvec_dev" \
        "$lib/liblookahead.so" "$lib/liblookahead_cuda.so"; do
        [ -f "$f" ] || { echo "gpu-lease: $f is missing (the CUDA backend is built when nvcc is present)" >&2; return 1; }
    done
    rm -rf "$carry"
    mkdir -p "$carry/traces" "$carry/stage/native"
    # java.base and the vector API are all the engine needs (java.desktop and java.sql are referenced only by
    # libraries' optional paths); xz keeps the runtime inside the device tool's 64 MiB with the repository
    "$jdk/bin/jlink" --add-modules java.base,jdk.incubator.vector --strip-debug --no-header-files \
        --no-man-pages --output "$carry/stage/jre" || return 1
    cp "$native/lk_harness" "$native/lk_transfer" "$native/lk_cuda_router_fused_test" "$native/lk_qmatvec_dev" \
        "$lib/liblookahead.so" "$lib/liblookahead_cuda.so" "$carry/stage/native/"
    tar -C "$carry/stage" -cJf "$carry/runtime.tar.xz" jre native || return 1
    rm -rf "$carry/stage"
    cp "$root/java/target/lookahead.jar" "$carry/lookahead.jar"
    # what was built: the device machine's copy of .git may be older than the tree it carries
    { git -C "$root" rev-parse HEAD; git -C "$root" status --porcelain --untracked-files=no | sed 's/^/changed: /'; } \
        > "$carry/BUILD" 2>/dev/null
    local traces=$root/../shared/traces/mixtral-8x7b
    # humaneval: held out from the tuning of the scheduler and the routing recurrence (gsm8k)
    if [ -f "$traces/humaneval.jsonl" ]; then
        cp "$traces/humaneval.jsonl" "$carry/traces/"
    else
        echo "gpu-lease: $traces/humaneval.jsonl not found: mixtral-bench will fail" >&2
    fi
    local mib=$(( $(du -sk "$carry" | cut -f1) / 1024 ))
    local tree=$(( $(cd "$root" && git ls-files -z | du -cb --files0-from=- 2>/dev/null | tail -1 | cut -f1) / 1048576 ))
    echo "prepared $carry: $mib MiB, with the tracked files $((mib + tree)) MiB (the device tool carries at most 64):"
    echo "run with carry [\".device-carry\"]"
    [ $((mib + tree)) -le 64 ]
}

run() {
    local out=$1 budget=${2:-540}
    mkdir -p "$out" || return 2
    out=$(cd "$out" && pwd)
    [ -f "$carry/runtime.tar.xz" ] && [ -f "$carry/lookahead.jar" ] ||
        { echo "gpu-lease: $carry is missing: run '$0 prepare' where a JDK is, and carry it" >&2; return 2; }
    local rt=${LK_RUNTIME_DIR:-/tmp/lk-runtime}
    rm -rf "$rt" && mkdir -p "$rt" && tar -C "$rt" -xJf "$carry/runtime.tar.xz" || return 2
    export LD_LIBRARY_PATH="$rt/native${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    export root carry rt out
    export LK_BACKEND=${LK_BACKEND:-cuda} # LK_BACKEND=cpu rehearses the engine steps where there is no GPU
    export LK_JAVA="$rt/jre/bin/java --enable-native-access=ALL-UNNAMED -Xss4m -Xmx24g -Dlookahead.home=$root -Dlookahead.native.dir=$rt/native -jar $carry/lookahead.jar"
    local sanitizer
    sanitizer=$(command -v compute-sanitizer || true)
    for d in "${CUDA_HOME:-}" /usr/local/cuda; do
        [ -z "$sanitizer" ] && [ -n "$d" ] && [ -x "$d/bin/compute-sanitizer" ] && sanitizer=$d/bin/compute-sanitizer
    done
    export sanitizer
    local start=$SECONDS summary=$out/summary.log
    : > "$summary"
    # left: seconds until the budget ends, less a margin for packing the logs
    left() { echo $((budget - 15 - (SECONDS - start))); }
    # step NAME LIMIT COMMAND...: runs the command (cut at LIMIT or the budget), output in NAME.log
    step() {
        local name=$1 limit=$2
        shift 2
        # a width suffix (mixtral-bench-2bit) is selected by its base name
        if [ -n "${LK_STEPS:-}" ] && [[ " $LK_STEPS " != *" ${name%-[0-9]bit} "* ]]; then
            return 0 # not selected
        fi
        local l
        l=$(left)
        [ "$limit" -gt "$l" ] && limit=$l
        local log=$out/$name.log t0=$SECONDS
        if [ "$limit" -le 5 ]; then
            echo "== $name: SKIPPED (no time left)" >> "$summary"
            return 1
        fi
        { echo "# $(date -u '+%Y-%m-%dT%H:%M:%SZ')  limit ${limit}s  $*"; timeout "$limit" "$@"; } > "$log" 2>&1
        local rc=$?
        local verdict=PASS
        [ $rc -eq 0 ] || verdict="FAIL (exit $rc$([ $rc -eq 124 ] && echo ", timed out after ${limit} s"))"
        echo "== $name: $verdict in $((SECONDS - t0)) s" >> "$summary"
        return $rc
    }
    export -f step left
    export budget start summary

    # -------- phase 1: alone
    step env 60 bash -c 'echo "built from: $(head -1 "$carry/BUILD" 2>/dev/null) ($(grep -c "^changed: " "$carry/BUILD" 2>/dev/null) files changed against it)"; date -u; uname -a
        grep -m1 "model name" /proc/cpuinfo; nproc; free -g; df -h /tmp /dev/shm
        { nvidia-smi || [ "$LK_BACKEND" = cpu ]; } || exit 1
        nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.max.memory,pcie.link.gen.max,pcie.link.width.max,pcie.link.gen.current,pcie.link.width.current --format=csv
        nvcc --version | tail -2; echo "compute-sanitizer: ${sanitizer:-not found}"; $LK_JAVA --version'
    if [ "$LK_BACKEND" = cuda ]; then
        step parity 120 "$rt/native/lk_harness" --a cuda --b cpu
        step router-fused 60 "$rt/native/lk_cuda_router_fused_test"
    fi

    # -------- phase 2: together (correctness only; nothing here is timed)
    local work=${LK_WORK:-}
    if [ -z "$work" ]; then # tmpfs when it has room for the 25 GB model, else the disk
        local shm_free
        shm_free=$(df -k --output=avail /dev/shm 2>/dev/null | tail -1)
        if [ -n "$shm_free" ] && [ "$shm_free" -gt $((40 * 1024 * 1024)) ]; then work=/dev/shm/lk-mixtral; else work=/tmp/lk-mixtral; fi
    fi
    export work
    export layers=${LK_MIXTRAL_LAYERS:-32} hidden=${LK_MIXTRAL_HIDDEN:-4096} \
        intermediate=${LK_MIXTRAL_INTERMEDIATE:-14336} vocab=${LK_MIXTRAL_VOCAB:-32000}
    local widths=(${LK_MIXTRAL_BITS:-4})
    export bits=${widths[0]} slots=${LK_MIXTRAL_SLOTS:-4} repeat=${LK_MIXTRAL_REPEAT:-1}
    # --warmup only when asked for: a baseline jar (LK_MIXTRAL_AB_JAR) from before session 19 has no such option
    export warmup=${LK_MIXTRAL_WARMUP:+--warmup $LK_MIXTRAL_WARMUP}
    export policies=${LK_MIXTRAL_POLICIES:-all-resident,mixtral-offloading,next-layer,lru-global,lookahead,lookahead-global}
    local pids=()
    if [ "$LK_BACKEND" = cuda ]; then
        if [ -n "$sanitizer" ]; then
            for tool in memcheck racecheck synccheck initcheck; do
                step "$tool" 150 "$sanitizer" --tool "$tool" --error-exitcode 1 --print-limit 100 \
                    "$rt/native/lk_harness" --a cuda --b cpu &
                pids+=($!)
            done
            step memcheck-router 120 "$sanitizer" --tool memcheck --error-exitcode 1 "$rt/native/lk_cuda_router_fused_test" &
            pids+=($!)
            for tool in memcheck racecheck; do
                step "$tool-qmatvec-dev" 150 "$sanitizer" --tool "$tool" --error-exitcode 1 --print-limit 100 \
                    "$rt/native/lk_qmatvec_dev" --validate &
                pids+=($!)
            done
        else
            echo "== sanitizers: FAIL (compute-sanitizer not found; set CUDA_HOME)" >> "$summary"
        fi
    fi
    step engine-smoke 180 bash -c 'p="The old man looked at the"
        $LK_JAVA info "$root/models/demo" --backend $LK_BACKEND &&
        $LK_JAVA generate "$root/models/demo" -p "$p" -n 32 --backend cpu > "$out/generate.cpu.txt" &&
        $LK_JAVA generate "$root/models/demo" -p "$p" -n 32 --backend $LK_BACKEND > "$out/generate.$LK_BACKEND.txt" &&
        { cat "$out/generate.cpu.txt"; echo; cat "$out/generate.$LK_BACKEND.txt"; echo;
          if cmp -s "$out/generate.cpu.txt" "$out/generate.$LK_BACKEND.txt"; then echo "CPU and $LK_BACKEND texts are identical"
          else echo "CPU and $LK_BACKEND texts differ (report)"; fi; }' &
    pids+=($!)
    # expanded by the step's shell: each width's model in turn replaces the last one in $work
    export create_mixtral='rm -rf "$work" && $LK_JAVA create-model "$work" --layers $layers --hidden $hidden \
        --intermediate $intermediate --heads 32 --kv-heads 8 --experts 8 --top-k 2 --vocab $vocab \
        --rope-theta 1000000 --max-positions 4096 --expert-bits $bits'
    step mixtral-create 150 bash -c "$create_mixtral" &
    pids+=($!)
    wait "${pids[@]}"

    # -------- phase 3: alone on the GPU, timed
    if [ "$LK_BACKEND" = cuda ]; then
        step bench 90 bash -c 'nvidia-smi --query-gpu=clocks.sm,clocks.mem,power.draw --format=csv
            "$rt/native/lk_harness" --bench --a cuda ${LK_BENCH_FILTER:+--filter "$LK_BENCH_FILTER"} && nvidia-smi --query-gpu=clocks.sm,clocks.mem,power.draw --format=csv'
        # the real link, then an emulated one (the copy's stream held for its emulated time)
        step transfer 60 bash -c '"$rt/native/lk_transfer" --backend cuda && "$rt/native/lk_transfer" --backend cuda --link-gbps 2 --bytes 64M'
        # the uniform decode matvec's variants, validated and timed (cuda/dev/qmatvec_dev.cu); the bench step's
        # qmatvec rows are the production kernel on the same shapes
        step qmatvec-dev 120 "$rt/native/lk_qmatvec_dev"
        # Nsight Compute on the first 4-bit and 2-bit decode matvecs (4096 x 14336), clocks as found
        local ncu
        ncu=$(command -v ncu || ls /usr/local/cuda/bin/ncu /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -1)
        for bits in 4 2; do
            step "ncu-qmatvec$bits" 120 "${ncu:-ncu}" --clock-control none --kernel-name-base demangled \
                --kernel-name "regex:qmatvec_uniform_kernel<.int.$bits," --launch-skip 2 --launch-count 1 \
                --section SpeedOfLight --section LaunchStats --section Occupancy --section WarpStateStats \
                --section SchedulerStats --section MemoryWorkloadAnalysis --section InstructionStats \
                "$rt/native/lk_harness" --bench --a cuda --filter qmatvec
        done
        step sass 60 bash -c 'cuobjdump --dump-sass --gpu-architecture sm_90 "$rt/native/liblookahead_cuda.so" |
            awk "/Function : .*qmatvec_uniform_kernelILi4/{on=1} /Function : /{if (!/qmatvec_uniform_kernelILi4/) on=0} on"'
    fi
    # the demo model with its trained heads on this device and host, the link emulated at Mixtral-8x7B's transfer /
    # compute ratio (bench --emulate-link): what the VM's emulation cannot say, with a host that has cores of its own
    export demo_link_tokens=${LK_DEMO_LINK_TOKENS:-128} demo_link_repeat=${LK_DEMO_LINK_REPEAT:-3}
    step demo-link 180 bash -c 'for bits in ${LK_DEMO_LINK_BITS:-4}; do $LK_JAVA bench --backend $LK_BACKEND --emulate-link \
        --expert-bits $bits -n $demo_link_tokens -k 4 --repeat $demo_link_repeat \
        --prompts "$root/models/demo/bench-prompts.txt" \
        --policies all-resident,mixtral-offloading,next-layer,lookahead,lookahead-global \
        --json "$out/demo-link-${bits}bit.json" || exit 1; done'
    # one prompt per problem of the trace: a prompt replaying a problem again would repeat its routing exactly,
    # which the lookahead policies' routing recurrence finds (docs/results.md, session 9)
    printf "%s\n" "Write a short story about a robot." "Explain how a bicycle works." > "$out/mixtral-prompts.txt"
    local i suffix reserve=60 # seconds kept for bench-demo, when it is to run
    if [ -n "${LK_STEPS:-}" ] && [[ " $LK_STEPS " != *" bench-demo "* ]]; then reserve=0; fi
    for i in "${!widths[@]}"; do
        bits=${widths[$i]}
        suffix=$([ "$i" -gt 0 ] && echo "-${bits}bit")
        if [ "$i" -gt 0 ]; then
            step "mixtral-create$suffix" 150 bash -c "$create_mixtral"
        fi
        # the widths left share the time left, less a minute for bench-demo
        step "mixtral-bench$suffix" $(( ($(left) - reserve) / (${#widths[@]} - i) )) bash -c '$LK_JAVA bench "$work" \
            --backend $LK_BACKEND --expert-bits $bits -k $slots -n 64 --prompts "$out/mixtral-prompts.txt" \
            --routing-from "$carry/traces/humaneval.jsonl" --repeat $repeat $warmup --policies $policies \
            --json "$out/mixtral-bench-${bits}bit.json"'
        # LK_MIXTRAL_AB_FLAGS: mixtral-offloading and the lookahead policies again with these bench flags added, against
        # their own baseline (session 10: "--recurrence-tokens 0"); several sets, separated by ";", run one after the
        # other (session 13: "--oracle-heads 1;--oracle-heads 0.9,0.65,0.5")
        if [ -n "${LK_MIXTRAL_AB_FLAGS:-}${LK_MIXTRAL_AB_JAR:-}" ]; then
            export LK_JAVA_AB=${LK_MIXTRAL_AB_JAR:+${LK_JAVA%-jar *}-jar $root/$LK_MIXTRAL_AB_JAR}
            step "mixtral-ab$suffix" $(( ($(left) - reserve) / (${#widths[@]} - i) )) bash -c 'echo "build: ${LK_JAVA_AB:-$LK_JAVA}" | sed "s/.* -jar //"
                IFS=";" read -ra flag_sets <<< "${LK_MIXTRAL_AB_FLAGS:- }"
                for n in "${!flag_sets[@]}"; do
                    echo "== bench flags: ${flag_sets[$n]}"
                    ${LK_JAVA_AB:-$LK_JAVA} bench "$work" \
                    --backend $LK_BACKEND --expert-bits $bits -k $slots -n 64 --prompts "$out/mixtral-prompts.txt" \
                    --routing-from "$carry/traces/humaneval.jsonl" --repeat $repeat $warmup ${flag_sets[$n]} \
                    --policies mixtral-offloading,lookahead,lookahead-global \
                    --json "$out/mixtral-ab-${bits}bit-$((n + 1)).json" || exit 1
                done'
        fi
        # where a token's time goes at this shape (attention, the routing read-back, experts, copy waits), all
        # resident and offloaded; the Chrome traces come back with the logs
        export profile_policies=${LK_PROFILE_POLICIES:-all-resident mixtral-offloading}
        step "mixtral-profile$suffix" 120 bash -c 'for policy in $profile_policies; do
            $LK_JAVA profile "$work" --backend $LK_BACKEND --policy $policy -k 4 -n 16 \
                --out "$out/mixtral-profile-$policy-${bits}bit.json" || exit 1; done'
    done
    rm -rf "$work"
    step bench-demo 90 bash -c '$LK_JAVA bench --backend $LK_BACKEND --expert-bits 4 -n 32 -k 4 \
        --prompts "$root/models/demo/bench-prompts.txt" \
        --policies all-resident,mixtral-offloading,next-layer,lru-global,lookahead,lookahead-global \
        --json "$out/bench-demo.json"'

    local rc=0
    if grep -q "FAIL\|SKIPPED" "$summary"; then
        echo "gpu-lease: FAILED (see the logs)" >> "$summary"; rc=1
    else
        echo "gpu-lease: all steps passed in $((SECONDS - start)) s" >> "$summary"
    fi
    cat "$summary"
    if [ -n "${LK_PACK:-}" ]; then
        tar -C "$(dirname "$out")" -czf "$LK_PACK" "$(basename "$out")" && echo "gpu-lease: logs packed into $LK_PACK" || rc=1
    fi
    return $rc
}

case "${1:-}" in
    prepare) prepare ;;
    run) [ $# -ge 2 ] || { echo "usage: $0 run LOG_DIR [SECONDS]" >&2; exit 2; }; run "$2" "${3:-540}" ;;
    *) echo "usage: $0 prepare | run LOG_DIR [SECONDS]" >&2; exit 2 ;;
esac
