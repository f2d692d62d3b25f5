#!/usr/bin/env bash
# scripts/deps.sh — installs what the lab and the tests need on a fresh Debian machine (as root):
# the routers Porter is tested against (FRR, BIRD 2, GoBGP), iproute2, curl and procps, and buildah
# for the container image (scripts/image.sh).
# Does nothing when everything is already there.
set -euo pipefail
need=()
command -v ip >/dev/null || need+=(iproute2)
command -v curl >/dev/null || need+=(curl)
command -v ps >/dev/null || need+=(procps)
[ -x /usr/lib/frr/bgpd ] || need+=(frr)
command -v bird >/dev/null || need+=(bird2)
command -v gobgpd >/dev/null || need+=(gobgpd)
command -v python3 >/dev/null || need+=(python3)
command -v buildah >/dev/null || need+=(buildah)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "deps.sh: missing ${need[*]}; run as root (or install them) to run the lab and the e2e tests" >&2
  exit 0
fi
echo "deps.sh: installing ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# the packages' services must not start in the root namespace: the lab starts its own daemons
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d
  trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
