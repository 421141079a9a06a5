#!/usr/bin/env bash
# Installs outboxd's build and test dependencies from Debian 12 packages.
# Idempotent: packages already present are skipped, apt is asked only when
# something is missing. Usage: tools/setup.sh [--bench] [--fuzz]
set -euo pipefail

pkgs=(
  build-essential cmake pkg-config ninja-build
  librocksdb-dev        # the outbox
  libboost-dev          # Asio + Beast (header-only)
  libcurl4-openssl-dev  # transport: libcurl multi, OpenSSL flavour
  libssl-dev            # HMAC, base64, AES-GCM, TLS
  libsimdjson-dev       # ingest parser
  libabsl-dev           # Status, Mutex, strings, flat_hash_map
  zlib1g-dev            # gzip bodies for the Logs Ingestion API
  libgtest-dev libgmock-dev libbenchmark-dev
  openssl               # test certificates, known-answer vectors
  python3               # test drivers for the process-level suites
)
for arg in "$@"; do
  case "$arg" in
    --bench) pkgs+=(nginx-light gnuplot-nox linux-perf) ;;  # TLS sink, charts, profiles
    --fuzz) pkgs+=(clang-14 libclang-rt-14-dev) ;;  # libFuzzer + sanitizer runtimes
    *) echo "setup: unknown option $arg" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO=sudo
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "setup: all dependencies present"
fi
