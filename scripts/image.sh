#!/usr/bin/env bash
# scripts/image.sh — builds Porter's container image with no daemon and no registry:
#   1. the static `porter` binary (cargo profile `dist`, glibc linked statically),
#   2. the image from Containerfile with buildah (FROM scratch, vfs storage),
#   3. an OCI archive of it, which `ctr images import`, `podman load` and `skopeo copy` take,
#   4. a check that the image runs: `porter --version` from inside it must name this commit.
#
#   scripts/image.sh [IMAGE]       IMAGE defaults to ghcr.io/porter-lb/porter:<version>
#
# The archive is target/image/porter.oci.tar (OUT= to change). Needs root for buildah; installs
# Debian's buildah when missing.
set -euo pipefail
cd "$(dirname "$0")/.."

version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
commit=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
image=${1:-ghcr.io/porter-lb/porter:$version}
out=${OUT:-target/image/porter.oci.tar}
triple=x86_64-unknown-linux-gnu
bin=target/$triple/dist/porter

echo "== static binary ($bin)"
RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static" PORTER_COMMIT=$commit \
  cargo build --locked -q --profile dist --target "$triple" -p porter
if readelf -l "$bin" | grep -q 'INTERP'; then
  echo "image.sh: $bin is dynamically linked; a FROM scratch image cannot run it" >&2
  exit 1
fi

if ! command -v buildah >/dev/null; then
  echo "== installing buildah"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends buildah >/dev/null
fi
bah() { buildah --storage-driver vfs "$@"; }

echo "== image $image"
bah build --quiet --isolation chroot --build-arg "VERSION=$version" --build-arg "COMMIT=$commit" \
  -f Containerfile -t "$image" . >/dev/null
mkdir -p "$(dirname "$out")"
rm -f "$out"
bah push --quiet "$image" "oci-archive:$out:$image"

echo "== porter --version, run from the image"
ctr=$(bah from --quiet "$image")
trap 'bah rm "$ctr" >/dev/null' EXIT
got=$(bah run --isolation chroot "$ctr" -- /usr/local/bin/porter --version)
want="porter $version (commit $commit)"
echo "$got"
if [ "$got" != "$want" ]; then
  echo "image.sh: the image says '$got', expected '$want'" >&2
  exit 1
fi
user=$(bah inspect --type image --format '{{.OCIv1.Config.User}}' "$image")
[ "$user" = "65532:65532" ] || { echo "image.sh: image user is '$user', expected 65532:65532" >&2; exit 1; }
printf '%s: binary %s bytes, archive %s bytes (%s)\n' "$image" "$(stat -c %s "$bin")" "$(stat -c %s "$out")" "$out"
