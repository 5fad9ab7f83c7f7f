#!/usr/bin/env bash
# Egress proxy: 1 GiB from a loopback server directly and through a CONNECT tunnel, and 1,000
# sequential short HTTP requests directly and through the proxy, in one run. Prints ratios.
# Usage: bench/proxy.sh [MIB] [REQUESTS]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo run -q --release -p cordon-net --example proxybench -- "${1:-1024}" "${2:-1000}"
