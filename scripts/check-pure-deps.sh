#!/usr/bin/env bash
# scripts/check-pure-deps.sh — the pure crates stay pure: fails, naming the crate and the chain
# that pulls it in, when a crate that does I/O appears among their normal dependencies.
#
# porter-api, porter-ipam, porter-bgp, porter-bfd, porter-member, porter-l2 and porter-model decide;
# they do no I/O, read no clock and open no socket (docs/architecture.md). clippy.toml bans the clocks in their own code; this check
# covers what they link. It reads Cargo.lock only (`cargo tree`, every target platform, no
# dev-dependencies: tests may use anything), so it costs a second or two.
#
# The deny list, by what the crates would bring:
#   async runtimes and I/O reactors  tokio mio async-std smol async-io polling
#   sockets and OS calls             socket2 nix libc
#                                    (none of them links libc today but through the one
#                                    exception below, so any crate that does binds OS calls a
#                                    pure crate has no use for: randomness, files, sockets. If a
#                                    harmless crate ever needs it, the chain printed here is
#                                    what to review.)
#   HTTP, clients and TLS            hyper hyper-util h2 tower reqwest kube-client kube-runtime
#                                    rustls tokio-rustls native-tls openssl openssl-sys
#   randomness (decisions must be    getrandom rand
#   reproducible from a snapshot)
#   log output (the facade `tracing` is fine; writing events out is the shell's)
#                                    tracing-subscriber env_logger
#
# One reviewed exception: libc where its only dependent is cpufeatures, RustCrypto's CPU feature
# detection under sha2 (porter-member's HMAC), which on aarch64 reads getauxval/sysctl to pick
# the SHA instructions. It opens nothing and draws no randomness. Any other path to libc fails.
#
# And the boundaries between the pure crates: porter-api (CRD types) depends on no protocol crate
# (porter-model's `valid` and `route_attrs` join it to the cores), and the protocol cores (BGP, BFD,
# layer 2 frames and membership) know nothing of Kubernetes or of each other.
set -euo pipefail
cd "$(dirname "$0")/.."

pure=(porter-api porter-ipam porter-bgp porter-bfd porter-member porter-l2 porter-model)
deny=(
  tokio mio async-std smol async-io polling
  socket2 nix libc
  hyper hyper-util h2 tower reqwest kube-client kube-runtime
  rustls tokio-rustls native-tls openssl openssl-sys
  getrandom rand
  tracing-subscriber env_logger
)
# Per crate, what it must not depend on besides the deny list.
declare -A boundary=(
  [porter-api]="porter-bgp porter-bfd porter-l2 porter-ipam rustbgpd-wire"
  [porter-ipam]="porter-api porter-bgp porter-model kube k8s-openapi"
  [porter-bgp]="porter-api porter-ipam porter-model porter-bfd porter-member porter-l2 kube k8s-openapi"
  [porter-bfd]="porter-api porter-ipam porter-model porter-bgp porter-member porter-l2 kube k8s-openapi"
  [porter-member]="porter-api porter-ipam porter-model porter-bgp porter-bfd porter-l2 kube k8s-openapi"
  [porter-l2]="porter-api porter-ipam porter-model porter-bgp porter-bfd porter-member kube k8s-openapi"
  [porter-model]=""
)

failed=0
for crate in "${pure[@]}"; do
  # One package a line, as name@version (`tokio v1.48.0` -> `tokio@1.48.0`), so a crate present
  # in two versions is still named exactly.
  packages=$(cargo tree --quiet -e normal --target all -p "$crate" --prefix none |
    awk '{sub(/^v/, "", $2); print $1 "@" $2}' | sort -u)
  for bad in "${deny[@]}" ${boundary[$crate]}; do
    for package in $(grep -- "^$bad@" <<<"$packages" || true); do
      if [[ $bad == libc ]]; then
        # Its direct dependents in this crate's tree (depth 1 of the inverted tree, itself excluded).
        dependents=$(cargo tree --quiet -e normal --target all -p "$crate" -i "$package" --depth 1 --prefix none |
          awk 'NR > 1 {print $1}' | sort -u)
        [[ $dependents == cpufeatures ]] && continue
      fi
      if [[ " ${boundary[$crate]} " == *" $bad "* ]]; then
        why="it crosses the crate boundary"
      else
        why="it does I/O"
      fi
      echo "error: the pure crate $crate depends on $package ($why); the chain:" >&2
      cargo tree --quiet -e normal --target all -p "$crate" -i "$package" >&2
      echo >&2
      failed=1
    done
  done
done
if [ "$failed" = 1 ]; then
  echo "Pure crates decide, shells do I/O: move the code that needs these into porter-speaker," >&2
  echo "porter-kube or the binary (code joining API and cores into porter-model), or, if the" >&2
  echo "crate is harmless, change the lists above." >&2
  exit 1
fi
echo "pure crates: no I/O dependencies, boundaries kept (${pure[*]})"
