# Benchmarks, included from the Makefile with `include tools/bench.mk`. See BENCHMARKS.md.
#
#   make bench                          10,000 and 100,000 credentials (--quick), about 5 minutes
#   make bench BENCH_ARGS=--full        adds 1,000,000 credentials
#   make bench BENCH_ARGS="--sizes 10000 --engines coffer"
#   make bench-shared                   a vault shared through PostgreSQL: 1, 2, 4, 8 writer processes and 8 threads
#
# tools/bench installs libsqlcipher-dev and libsqlite3-dev (and libsodium-dev) with apt-get
# when pkg-config lacks them, builds the separate Benchmarks/ package in release mode, and
# writes Benchmarks/results/latest.{md,json}. Not part of `make test`.

BENCH_TOOLS := $(patsubst %/,%,$(dir $(lastword $(MAKEFILE_LIST))))
BENCH_ARGS ?=
.PHONY: bench bench-shared

bench:
	$(BENCH_TOOLS)/bench $(BENCH_ARGS)

bench-shared:
	$(BENCH_TOOLS)/bench-shared $(BENCH_ARGS)
