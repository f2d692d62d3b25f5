#!/usr/bin/env bash
# What makes the `porter` binary and its image as large as they are (not a test). Builds the release
# binary (cargo profile `release`: debug line tables) and the image's static one (profile `dist`:
# no debug info, stripped, one codegen unit, thin LTO; see Cargo.toml), then prints:
#   * the size of each, stripped and not, and of the image's OCI archive when target/image has one;
#   * the code size per crate of the release binary, from its symbols (largest first), which says
#     what dominates.
#
#   ./bench/binary_size.sh
#
# Figures and the machine they were taken on: docs/benchmarks.md ("Binary and image size").
set -euo pipefail
cd "$(dirname "$0")/.."
target=${CARGO_TARGET_DIR:-target}

cargo build --quiet --release -p porter
RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static" \
  cargo build --quiet --profile dist --target x86_64-unknown-linux-gnu -p porter
release=$target/release/porter
dist=$target/x86_64-unknown-linux-gnu/dist/porter
stripped=$(mktemp); trap 'rm -f "$stripped"' EXIT
strip -o "$stripped" "$release"

mb() { awk -v b="$(stat -c %s "$1")" 'BEGIN { printf "%6.1f MB", b / 1e6 }'; }
echo "== binaries"
echo "release (debug line tables):     $(mb "$release")"
echo "release, stripped:               $(mb "$stripped")"
echo "dist (static, stripped, LTO):    $(mb "$dist")"
[ -f "$target/image/porter.oci.tar" ] && echo "image archive (OCI):             $(mb "$target/image/porter.oci.tar")"
echo "dist, sections:"
size -A "$dist" | awk '$1 ~ /^\./ && $2 > 100000 { printf "  %-22s %6.1f MB\n", $1, $2 / 1e6 }'

echo "== code per crate (release binary's function symbols, largest first)"
nm --size-sort -S -C "$release" 2>/dev/null | awk '$3 ~ /^[tTwW]$/' | python3 -c '
import re, sys
from collections import Counter
sizes = Counter()
for line in sys.stdin:
    parts = line.split(" ", 3)
    if len(parts) < 4:
        continue
    name = parts[3].strip()
    # a generic instance counts for the first crate its name mentions that is not the standard
    # library: core::ptr::drop_in_place<k8s_openapi::...> is code for k8s_openapi
    crates = re.findall(r"(?<![\w:])([A-Za-z_][A-Za-z0-9_]*)::", name)
    own = [c for c in crates if c not in ("core", "alloc", "std")]
    sizes[own[0] if own else (crates[0] if crates else "(other)")] += int(parts[1], 16)
total = sum(sizes.values())
for crate, size in sizes.most_common(15):
    print(f"  {crate:<24} {size / 1e6:6.2f} MB  {100 * size / total:4.1f}%")
print("  %-24s %6.2f MB" % ("all functions", total / 1e6))
'
