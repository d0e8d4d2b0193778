#!/usr/bin/env bash
# Installs the Debian packages a make target needs, only those missing.
# usage: scripts/deps.sh run|test|bench
set -euo pipefail

run_pkgs=(libpulse0 libasound2 libopus-dev libopusfile-dev libspeexdsp1 libspeexdsp-dev libwebrtc-audio-processing-dev g++ pkg-config)
test_pkgs=("${run_pkgs[@]}" pulseaudio pulseaudio-utils pipewire pipewire-pulse wireplumber dbus-daemon kamailio kamailio-tls-modules kamailio-outbound-modules kamailio-websocket-modules rtpengine-daemon coturn npm baresip-core sip-tester sox nftables iproute2 procps ffmpeg chromium curl passwd)
bench_pkgs=("${test_pkgs[@]}")

case "${1:-}" in
run) want=("${run_pkgs[@]}") ;;
test) want=("${test_pkgs[@]}") ;;
bench) want=("${bench_pkgs[@]}") ;;
*) echo "usage: $0 run|test|bench" >&2; exit 2 ;;
esac

missing=()
for p in "${want[@]}"; do
	# npm also comes with other builds of Node.js (NodeSource's nodejs
	# package, which conflicts with Debian's npm): a working npm will do.
	if [[ $p == npm ]] && command -v npm >/dev/null; then
		continue
	fi
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing+=("$p")
	fi
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

echo "deps: installing ${missing[*]}" >&2
SUDO=""
if [[ $(id -u) -ne 0 ]]; then
	if command -v sudo >/dev/null; then SUDO=sudo; else
		echo "deps: need root (or sudo) to install: ${missing[*]}" >&2
		exit 1
	fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get -o DPkg::Lock::Timeout=600 update -q >/dev/null
$SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "${missing[@]}" >/dev/null
