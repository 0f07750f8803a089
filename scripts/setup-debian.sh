#!/usr/bin/env bash
# Installs the Debian packages podheitor needs, only those that are missing.
# Usage: scripts/setup-debian.sh base|bacula
# "base": a Python venv toolchain and a C compiler; "bacula": Debian 12's Bacula daemons
# for the real end-to-end path (shim + bacula-fd/sd/dir). Without root it only reports.
set -euo pipefail
want=()
case "${1:-base}" in
  base)   pkgs=(python3 python3-venv python3-dev gcc make) ;;
  bacula) pkgs=(bacula-fd bacula-sd bacula-director-sqlite3 bacula-console sqlite3 bacula-director) ;;
  *) echo "usage: $0 base|bacula" >&2; exit 2 ;;
esac
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || want+=("$p")
done
[ ${#want[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then SUDO=sudo; else
    echo "setup-debian: missing packages ${want[*]} and no root to install them" >&2; exit 1; fi
else SUDO=; fi
echo "setup-debian: installing ${want[*]}"
# Package maintainer scripts must not try to start services (no systemd here).
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
  $SUDO chmod 755 /usr/sbin/policy-rc.d
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${want[@]}" >/dev/null
