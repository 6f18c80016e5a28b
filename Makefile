# SharedLB developer targets. `make help` lists them; .ci/run calls `make ci`.
SWIFT ?= swift
FORMAT_PATHS = Package.swift Sources Tests Benchmarks/Package.swift Benchmarks/Benchmarks Fuzz/Package.swift Fuzz/Sources/FuzzAdmission Fuzz/Sources/FuzzLedger

.PHONY: help build release release-static test test-kube lint format manifests manifests-check manifests-render docs-check product-check examples-check bench bench-cgroup benchmarks benchmarks-build scale fuzz fuzz-smoke faults run ci

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  make %-16s %s\n", $$1, $$2}'

build: ## Debug build (warnings are errors in our targets)
	$(SWIFT) build

release: ## Release build of the sharedlb binary (.build/release/sharedlb)
	$(SWIFT) build -c release --product sharedlb

release-static: ## The Dockerfile's build: swift build -c release, Swift and C++ runtimes linked in, lld
	scripts/release-build.sh
	@# Only the C runtime (with libgcc_s) and zlib may stay dynamic: the runtime image has nothing else.
	@if ldd .build/release/sharedlb | grep -v -E 'linux-vdso|libc\.so|libm\.so|libdl\.so|libpthread\.so|librt\.so|libutil\.so|ld-linux|libgcc_s|libz\.so'; then \
		echo "release-static: the binary needs the libraries above" >&2; exit 1; fi
	.build/release/sharedlb --version

test: ## Run the whole test suite (with the real-cluster tier when SHAREDLB_KUBE_ASSETS is set)
	$(SWIFT) test

test-kube: ## The whole suite with the real-cluster tier on every control plane of ../shared/kube
	SHAREDLB_KUBE_ASSETS="$$(scripts/kube-assets.sh)" $(SWIFT) test

lint: ## Check formatting with swift format and the repo's .swift-format
	$(SWIFT) format lint --strict --recursive $(FORMAT_PATHS)

format: ## Format the code in place
	$(SWIFT) format --in-place --recursive --parallel $(FORMAT_PATHS)

WEBHOOK_CONFIG = .build/debug/sharedlb webhook-config --service sharedlb-system/sharedlb-webhook
FAIL_CLOSED = --failure-policy Fail --match-conditions
OVERLAYS = $(wildcard manifests/overlays/*)

manifests: build ## Regenerate manifests/ files that come from the code
	$(WEBHOOK_CONFIG) > manifests/webhook/mutatingwebhookconfiguration.yaml
	$(WEBHOOK_CONFIG) $(FAIL_CLOSED) > manifests/overlays/fail-closed/mutatingwebhookconfiguration.yaml

manifests-check: build ## Fail if generated manifests differ from the code
	$(WEBHOOK_CONFIG) | diff -u manifests/webhook/mutatingwebhookconfiguration.yaml -
	$(WEBHOOK_CONFIG) $(FAIL_CLOSED) | diff -u manifests/overlays/fail-closed/mutatingwebhookconfiguration.yaml -

manifests-render: ## `kubectl kustomize` renders manifests/ and each overlay, with the settings each overlay promises
	scripts/manifests-render.sh manifests $(OVERLAYS) manifests/monitoring

docs-check: build ## Every subcommand and option in --help is documented in docs/COMMANDS.md (and tabled in README)
	scripts/docs-check.sh .build/debug/sharedlb

product-check: build ## The sharedlb binary links no test or demo code (no SharedLBAPIServer or SharedLBDemo symbol)
	@if nm .build/debug/sharedlb | grep -E 'SharedLBAPIServer|SharedLBDemo' | head -3 | grep .; then \
		echo "product-check: sharedlb links the in-repo API server or the demo" >&2; exit 1; fi
	@echo "product-check: sharedlb holds only the product"

examples-check: build ## The example ledger audits clean; the demo's embedded Services match manifests/examples
	.build/debug/sharedlb audit --ledger manifests/examples/ledger.yaml > /dev/null
	.build/debug/sharedlb-demo --print-examples | diff -u manifests/examples/demo-services.yaml -

bench: ## Webhook throughput/latency/RSS against the Go peer and nginx (needs wrk, go, nginx; see scripts/)
	scripts/webhook-bench.sh

bench-cgroup: ## Webhook and Go peer at their defaults inside a one-CPU cgroup (root; wrk, go)
	scripts/webhook-bench-cgroup.sh

benchmarks: ## ordo-one/benchmark suites of the hot pure paths (Benchmarks/)
	$(SWIFT) package --package-path Benchmarks benchmark

benchmarks-build: ## Build the benchmark suites (CI: they must keep compiling)
	$(SWIFT) build --package-path Benchmarks -c release

scale: ## The allocator at 1,000 and 10,000 Services on a real control plane (scripts/allocator-scale.sh)
	scripts/allocator-scale.sh

fuzz: ## libFuzzer, 10 minutes per target (scripts/fuzz.sh)
	scripts/fuzz.sh all 600

fuzz-smoke: ## Build the fuzzers and run each for 10 s (CI)
	scripts/fuzz.sh all 10

faults: ## Longer allocator fault runs: SIGKILL loop and API faults (scripts/faults.sh)
	scripts/faults.sh

run: ## Run the demo: API server, webhook, allocator and a stand-in cloud in one process
	$(SWIFT) run sharedlb-demo

ci: lint test manifests-check manifests-render docs-check product-check examples-check release-static fuzz-smoke benchmarks-build ## What CI runs
