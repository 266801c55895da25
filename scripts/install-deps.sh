#!/usr/bin/env bash
# Debian 12 packages needed to build, test and run usnet.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends \
  build-essential g++ clang cmake ninja-build pkg-config \
  libgtest-dev libgmock-dev libbenchmark-dev libfmt-dev libcli11-dev libpcap-dev libevent-dev \
  tshark iproute2 util-linux procps perl python3 ca-certificates \
  netcat-openbsd socat sockperf iperf memcached ethtool
# Daemons and clients the programs tests run (never as services: policy-rc.d keeps their
# packages from starting them, as in a container).
rc=/usr/sbin/policy-rc.d
if [ ! -e "$rc" ]; then printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$rc" >/dev/null; $SUDO chmod +x "$rc"; trap '$SUDO rm -f "$rc"' EXIT; fi
$SUDO apt-get install -y -q --no-install-recommends \
  rsyslog dnsmasq-base bind9-dnsutils tftpd-hpa tftp-hpa iputils-ping busybox-static golang-go
