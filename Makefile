# swift-session-manager: build, test, demo and benchmarks.
#
#   make test                      install test deps (memcached, ...), build, run all tests
#   make test SWIFT_TEST_FLAGS="--filter MemcachedClientIntegrationTests"
#   make test-examples             build and run the apps in Examples/
#   make format                    format every Swift file (swift format, .swift-format)
#   make format-check              fail on unformatted Swift (CI runs it)
#   make bench-client              memcached client benchmark (release build)
#   make bench-redis               Redis client benchmark against redis-benchmark (release build)
#   make bench-encryption          AES-256-GCM on a 1 KB session beside the envelope coding alone
#   make bench-http                wrk against msm serve (Hummingbird and Vapor), Vapor's own drivers, memory
#   make bench-flamegraphs         the same under perf: a flame graph per scenario in docs/flamegraphs/
#   make docs                      API reference (DocC) of every library product in .build/docs; fails on any warning

SWIFT ?= swift
SWIFT_BUILD_FLAGS ?=
SWIFT_TEST_FLAGS ?=
BENCH_FLAGS ?=
DEMO_FLAGS ?=
HTTP_BENCH_FLAGS ?=

.PHONY: all build test test-examples format format-check demo bench bench-client bench-redis bench-encryption bench-http bench-flamegraphs docs clean

all: build

build:
	$(SWIFT) build $(SWIFT_BUILD_FLAGS)

test:
	bash scripts/install-deps.sh test
	python3 scripts/check-readme-snippets.py
	$(SWIFT) build --build-tests $(SWIFT_BUILD_FLAGS)
	$(SWIFT) test $(SWIFT_BUILD_FLAGS) $(SWIFT_TEST_FLAGS)
	python3 Benchmarks/http/test_run.py
	python3 scripts/test-examples.py --swift $(SWIFT)

# The apps in Examples/ alone: built (a memcached-only app must not compile RedisClient or
# swift-nio-ssl) and run against real servers.
test-examples:
	bash scripts/install-deps.sh test
	python3 scripts/test-examples.py --swift $(SWIFT)

SWIFT_FORMAT_PATHS = Sources Tests Benchmarks Examples/Sources Examples/Tests Package.swift Examples/Package.swift

format:
	$(SWIFT) format --in-place --recursive --parallel $(SWIFT_FORMAT_PATHS)

format-check:
	$(SWIFT) format lint --strict --recursive --parallel $(SWIFT_FORMAT_PATHS)

# The seed's cluster on loopback: memcached m1/m2, app servers A/B, nginx on :8080.
# DEMO_FLAGS passes options through, e.g. DEMO_FLAGS="--port 9090 --non-sticky", or
# DEMO_FLAGS="--store redis" for Redis r1/r2 (ports 16379,16380) instead of memcached.
demo:
	bash scripts/install-deps.sh demo
	$(SWIFT) build $(SWIFT_BUILD_FLAGS) --product msm
	"$$($(SWIFT) build $(SWIFT_BUILD_FLAGS) --show-bin-path)/msm" demo $(DEMO_FLAGS)

# memcached runs on CPU 0 (the benchmark pins it), both clients on CPU 1: on a 2-core machine
# unpinned single-connection figures swing 3x with scheduler placement.
bench-client:
	bash scripts/install-deps.sh bench
	$(SWIFT) build -c release $(SWIFT_BUILD_FLAGS) --product MemcachedClientBenchmark
	taskset -c 1 "$$($(SWIFT) build -c release $(SWIFT_BUILD_FLAGS) --show-bin-path)/MemcachedClientBenchmark" $(BENCH_FLAGS)

# redis-server on CPU 0 (the benchmark pins it), our client and redis-benchmark on CPU 1; SET and
# GET, 1 KB values, without pipelining and pipelined 16 deep. BENCH_FLAGS as above (--help lists them).
bench-redis:
	bash scripts/install-deps.sh bench
	$(SWIFT) build -c release $(SWIFT_BUILD_FLAGS) --product RedisClientBenchmark
	taskset -c 1 "$$($(SWIFT) build -c release $(SWIFT_BUILD_FLAGS) --show-bin-path)/RedisClientBenchmark" $(BENCH_FLAGS)

# The session cipher alone (AES-256-GCM on a 1 KB session) beside the envelope coding every store
# write and load does anyway, on CPU 1.
bench-encryption:
	$(SWIFT) build -c release $(SWIFT_BUILD_FLAGS) --product SessionEncryptionBenchmark
	taskset -c 1 "$$($(SWIFT) build -c release $(SWIFT_BUILD_FLAGS) --show-bin-path)/SessionEncryptionBenchmark"

# HTTP: wrk against `msm serve` (release build) in every session mode, and nginx in front of two,
# on memcached and on Redis nodes.
# Vapor's own drivers (MemorySessions, FluentSessions on PostgreSQL) run in a package of their own
# (Benchmarks/VaporSessionsBaseline), so neither `make test` nor users compile Fluent.
VAPOR_BASELINE_DIR = Benchmarks/VaporSessionsBaseline
bench-http:
	bash scripts/install-deps.sh bench
	$(SWIFT) build -c release $(SWIFT_BUILD_FLAGS) --product msm
	$(SWIFT) build -c release $(SWIFT_BUILD_FLAGS) --package-path $(VAPOR_BASELINE_DIR)
	python3 Benchmarks/http/run.py --msm "$$($(SWIFT) build -c release $(SWIFT_BUILD_FLAGS) --show-bin-path)/msm" \
		--vapor-baseline "$$($(SWIFT) build -c release $(SWIFT_BUILD_FLAGS) --package-path $(VAPOR_BASELINE_DIR) --show-bin-path)/VaporSessionsBaseline" \
		$(HTTP_BENCH_FLAGS)

# The same run with the server under `perf record -g`: a flame graph per scenario in
# docs/flamegraphs/ (profiling lowers the figures, the baseline most: do not compare them).
bench-flamegraphs:
	$(MAKE) bench-http HTTP_BENCH_FLAGS="--profile docs/flamegraphs $(HTTP_BENCH_FLAGS)"

bench: bench-client bench-redis bench-encryption bench-http

# One catalog per library product (Sources/<Target>/Documentation.docc), built by the toolchain's
# own docc from symbol graphs of a separate build (.build/docs/scratch), warnings as errors.
docs:
	SWIFT=$(SWIFT) bash scripts/docs.sh

clean:
	$(SWIFT) package clean
