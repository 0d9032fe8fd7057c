#!/usr/bin/env bash
# Reproduce the numbers in docs/benchmarks.md. Needs `make tools` first.
set -euo pipefail
cd "$(dirname "$0")/.."
go test -run '^$' -bench . -benchtime "${BENCHTIME:-20x}" -count "${COUNT:-1}" ./bench/
