# Fuzzing, included from the Makefile with `include tools/fuzz.mk`. See docs/fuzzing.md.
#
#   make fuzz-smoke                              every target for 60 s, summary table
#   make fuzz TARGET=FuzzOpenVault SECONDS=3600  one target
#   make fuzz-long [SECONDS=3600] [JOBS=2]       a campaign: every target, corpus minimized, ledger
#                  [FUZZ_CONFIGURATION=debug]    (an optimized build by default: tools/fuzz-long --release)
#   make seed-corpus                             regenerate Fuzz/corpus/
#
# Needs libsodium-dev (as every build does) and the toolchain's lld, which ships in the same
# usr/bin as swift.

FUZZ_TOOLS := $(patsubst %/,%,$(dir $(lastword $(MAKEFILE_LIST))))
.PHONY: fuzz fuzz-smoke fuzz-long seed-corpus

fuzz-smoke: deps
	$(FUZZ_TOOLS)/fuzz-smoke 60

fuzz: deps
	@test -n "$(TARGET)" || { echo "usage: make fuzz TARGET=FuzzOpenVault [SECONDS=3600]" >&2; exit 2; }
	$(FUZZ_TOOLS)/fuzz $(TARGET) $(or $(SECONDS),60)

fuzz-long: deps
	FUZZ_CONFIGURATION=$(or $(FUZZ_CONFIGURATION),release) \
		$(FUZZ_TOOLS)/fuzz-long --seconds $(or $(SECONDS),3600) --jobs $(or $(JOBS),2)

seed-corpus:
	$(FUZZ_TOOLS)/make-seed-corpus
