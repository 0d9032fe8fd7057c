#!/usr/bin/env bash
# Reproduce the numbers in docs/benchmarks.md. Needs `make tools` first (the
# pinned aws-lambda-rie in ./bin).
#   COUNT, BENCHTIME      runs and iterations of the rotation benchmarks (3, 20x)
#   BENCH_SWEEP_SIZES     managed secrets per sweep (1000,10000,100000)
#   SWEEP_BENCHTIME       sweeps per size (1x; 100,000 secrets take minutes in the emulator)
set -euo pipefail
cd "$(dirname "$0")/.."
go test -run '^$' -bench 'BenchmarkColdStart|BenchmarkRotation' -benchtime "${BENCHTIME:-20x}" -count "${COUNT:-3}" ./bench/
go test -run '^$' -bench 'BenchmarkSweepWork' -benchtime 3x ./bench/
BENCH_SWEEP_SIZES="${BENCH_SWEEP_SIZES:-1000,10000,100000}" \
	go test -run '^$' -bench '^BenchmarkSweep$' -benchtime "${SWEEP_BENCHTIME:-1x}" -timeout 3h ./bench/
