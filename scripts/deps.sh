#!/usr/bin/env sh
# Installs the Debian packages spoa-jwt needs to build, test and run the demo.
# As root it runs apt-get itself; otherwise it prints the exact command.
set -eu
PKGS="build-essential pkg-config libev-dev libcurl4-openssl-dev libjansson-dev libssl-dev \
haproxy nginx-light curl openssl python3 python3-jwcrypto python3-jwt libmicrohttpd-dev python3-yaml clang clang-format libclang-rt-14-dev iproute2 procps"
missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
	echo "spoa-jwt needs these Debian packages:$missing" >&2
	echo "run as root:  apt-get update && apt-get install -y$missing" >&2
	exit 1
fi
echo "installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# shellcheck disable=SC2086
apt-get install -y -q --no-install-recommends $missing
