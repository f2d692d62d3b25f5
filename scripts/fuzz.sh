#!/usr/bin/env bash
# scripts/fuzz.sh [SECONDS] — runs every cargo-fuzz target in fuzz/ for SECONDS each (default 60)
# on stable Rust (`-s none`: coverage-guided, no sanitizer). Installs cargo-fuzz if missing.
# New inputs accumulate in fuzz/corpus/<target> (git-ignored), starting from the committed
# fuzz/seeds/<target>. Exits non-zero if any target crashed, hung on one input longer than
# FUZZ_TIMEOUT seconds (default 2) or grew past FUZZ_RSS_MB (default 512); the input is in
# fuzz/artifacts/. Hangs and memory growth are bugs of their own: a manifest must never hang
# Porter or eat its memory, a BGP message never stall a session.
set -euo pipefail
secs="${1:-60}"
cd "$(dirname "$0")/.."
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked

failed=()
for target in $(cargo fuzz list); do
    mkdir -p "fuzz/corpus/$target" "fuzz/seeds/$target"
    log="$(mktemp)"
    echo "== $target: ${secs}s"
    if cargo fuzz run -s none "$target" "fuzz/corpus/$target" "fuzz/seeds/$target" -- \
        -max_total_time="$secs" -timeout="${FUZZ_TIMEOUT:-2}" -rss_limit_mb="${FUZZ_RSS_MB:-512}" \
        -print_final_stats=1 >"$log" 2>&1; then
        grep -E '^(Done|stat::number_of_executed_units)' "$log" || true
    else
        tail -n 40 "$log"
        failed+=("$target")
    fi
    rm -f "$log"
done

if ((${#failed[@]})); then
    echo "fuzz: failed (crash, hang, memory growth or build error): ${failed[*]}; the inputs are under fuzz/artifacts/" >&2
    exit 1
fi
echo "fuzz: no crashes"
