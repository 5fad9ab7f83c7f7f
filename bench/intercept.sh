#!/usr/bin/env bash
# TLS interception: sequential HTTPS requests, a new connection each, direct to a loopback
# rustls server, through a plain CONNECT tunnel, and intercepted with a credential added, in one
# run; then the one-time costs (the run's CA, the first leaf, the system roots). Prints ratios.
# Usage: bench/intercept.sh [REQUESTS]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo run -q --release -p cordon-net --example interceptbench -- "${1:-1000}"
