#!/usr/bin/env bash
# Install the Debian/Ubuntu packages labkit needs when their binaries are missing.
#   scripts/ensure-os-packages.sh prometheus [prometheus-alertmanager ...]
# Each package is checked by the binary it provides; nothing is done when all are present.
set -euo pipefail

binary_of() {
  case "$1" in
    prometheus) echo promtool ;;
    prometheus-alertmanager) echo prometheus-alertmanager ;;
    chromium) echo chromium ;;
    *) echo "$1" ;;
  esac
}

missing=()
for pkg in "$@"; do
  command -v "$(binary_of "$pkg")" >/dev/null 2>&1 || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
  echo "labkit needs: ${missing[*]} (install them with your package manager; on Debian/Ubuntu: apt-get install ${missing[*]})" >&2
  exit 1
fi
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "Installing OS packages: ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

# On a systemd machine the packages start system-wide services on 0.0.0.0:9090 and :9093,
# which would hold the lab's ports. labkit runs its own, so stop the ones just installed.
if command -v systemctl >/dev/null 2>&1 && systemctl is-system-running >/dev/null 2>&1; then
  for pkg in "${missing[@]}"; do
    case "$pkg" in prometheus|prometheus-alertmanager)
      if systemctl is-enabled "$pkg.service" >/dev/null 2>&1; then
        $sudo systemctl disable --now "$pkg.service" >/dev/null 2>&1 || true
        echo "Stopped and disabled the system service $pkg (labkit starts its own on 127.0.0.1)."
      fi ;;
    esac
  done
fi
