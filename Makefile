# Coffer: build, test, demo. `make demo` and `make test` work on a fresh Debian machine with
# the Swift toolchain: they install the C libraries first when pkg-config cannot find them.

SWIFT ?= swift
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
DEMO_DIR ?= demo-vault

.PHONY: docs all deps postgres-deps build test tsan demo clean format-lint strace-faults crash-long crash-real crash-real-long

all: build

# libsodium and zlib through pkg-config; apt-get only when something is missing.
deps:
	@if command -v pkg-config >/dev/null 2>&1 && pkg-config --exists libsodium zlib; then :; else \
		echo "Installing libsodium-dev, zlib1g-dev and pkg-config with apt-get"; \
		$(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq libsodium-dev zlib1g-dev pkg-config; \
	fi

# A PostgreSQL server for the CofferPostgres tests, and openssl for the certificates of its TLS
# tests; apt-get only when one is missing.
postgres-deps:
	@if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && command -v openssl >/dev/null 2>&1; then :; else \
		echo "Installing postgresql and openssl with apt-get"; \
		$(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq postgresql openssl; \
	fi

build: deps
	$(SWIFT) build

# The whole test suite. Executables are built first: the process tests launch one. A throw-away
# PostgreSQL server runs in a temporary directory for the CofferPostgres tests, the servers that
# tests start of their own beside it; all are stopped afterwards whatever the outcome, those of
# a test process that was killed too. The exit status is the tests'. The run has a deadline
# (COFFER_TEST_DEADLINE seconds, 45 minutes unless set; it takes about 10): a run still going
# then is reported with what each of its processes waits for, killed, and fails with 124.
COFFER_TEST_DEADLINE ?= 2700

test: deps postgres-deps
	$(SWIFT) build --build-tests
	@# A consumer package on the checkout by path: strict concurrency, warnings as errors.
	$(SWIFT) build --package-path Examples/ServiceExample
	Examples/ServiceExample/.build/debug/ServiceExample
	tools/with-test-postgres tools/with-deadline $(COFFER_TEST_DEADLINE) -- $(SWIFT) test --skip-build

# ThreadSanitizer over the tests that run threads and tasks at once (a build of its own in
# .build-tsan), beside a throw-away PostgreSQL server as `make test`. No report is suppressed:
# every lock in the code is pthread's (`Lock`, `ReadWriteLocked`), which ThreadSanitizer
# understands, and atomics are the standard library's. A report fails the run.
TSAN_TESTS := GroupCommitTests|SyncWaitSpinTests|RandomizedLogTests|CheckpointStoreTests|AsyncTests|ObservationTests|SharedVaultTests|SharedLogStorageTests|CrashSimulationTests|CompactionTests|VaultTests|SecureMemoryTests|PostgresVaultListenerTests
tsan: deps postgres-deps
	$(SWIFT) build --build-tests --sanitize=thread --scratch-path .build-tsan
	COFFER_CRASH_STATES=300 TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" tools/with-test-postgres \
		tools/with-deadline $(COFFER_TEST_DEADLINE) -- \
		$(SWIFT) test --skip-build --sanitize=thread --scratch-path .build-tsan --filter '$(TSAN_TESTS)'

# Runs the main job on a throw-away vault in ./$(DEMO_DIR), through the coffer CLI.
demo: deps
	$(SWIFT) build --product coffer
	tools/demo $(DEMO_DIR)

# EIO and ENOSPC injected with strace into a real coffer process at every write and sync.
strace-faults: deps
	@command -v strace >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq strace; }
	$(SWIFT) build --product coffer
	tools/strace-faults

# Crash states of the real binary (docs/crash-testing.md): a workload of coffer commands under
# strace, every crash state its calls allow under the persistence model checked. The long run
# asks for many more states per crash point and more commits (COFFER_CRASH_SEED picks the seed).
crash-real: deps
	@command -v strace >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq strace; }
	$(SWIFT) build --product coffer
	$(SWIFT) build --product coffer-crash-states
	tools/crash-states --commits 240 --states-per-point 100 --minimum-states 10000

# A million states take hours: the run is kept in CRASH_RUN, and `make crash-real-long` again
# resumes it where it stopped (with the same build); remove the directory to start afresh.
CRASH_RUN ?= .build/crash-real-long
crash-real-long: deps
	@command -v strace >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq strace; }
	$(SWIFT) build -c release --product coffer
	$(SWIFT) build -c release --product coffer-crash-states
	if [ -f "$(CRASH_RUN)/settings" ]; then run="--resume"; else run="--run-dir"; fi; \
	tools/crash-states --commits 600 --largest-record 16000 --states-per-point 2500 --minimum-states 1000000 \
		$$run "$(CRASH_RUN)" .build/release/coffer .build/release/coffer-crash-states

# The crash-simulation suite with many more crash states (COFFER_CRASH_STATES overrides).
crash-long: deps
	$(SWIFT) build --build-tests
	COFFER_CRASH_STATES=$${COFFER_CRASH_STATES:-1000000} $(SWIFT) test --skip-build --filter 'CrashSimulationTests|FaultInjectionTests'

include tools/fuzz.mk
include tools/bench.mk

# The DocC documentation of the Coffer library (Sources/Coffer/Coffer.docc and every public
# symbol): symbol graphs from a build of its own (.build-docs), then the toolchain's docc.
# Open .build-docs/Coffer.doccarchive with `docc preview` or any static host.
docs:
	rm -rf .build-docs/symbols .build-docs/all-symbols && mkdir -p .build-docs/symbols .build-docs/all-symbols
	$(SWIFT) build --scratch-path .build-docs --target Coffer -Xswiftc -emit-symbol-graph \
		-Xswiftc -emit-symbol-graph-dir -Xswiftc $(CURDIR)/.build-docs/all-symbols
	cp .build-docs/all-symbols/Coffer.symbols.json .build-docs/all-symbols/Coffer@*.symbols.json .build-docs/symbols/
	docc convert Sources/Coffer/Coffer.docc --additional-symbol-graph-dir .build-docs/symbols \
		--output-path .build-docs/Coffer.doccarchive --fallback-display-name Coffer \
		--fallback-bundle-identifier org.coffer.Coffer
	tools/undocumented-symbols

format-lint:
	$(SWIFT) format lint --strict -r Package.swift Sources Tests

clean:
	rm -rf .build $(DEMO_DIR)
