# partnergate — run `make help` for the targets.

SHELL := /bin/bash
.DEFAULT_GOAL := help

BIN        := $(CURDIR)/bin
DATA       := $(CURDIR)/data
GO         ?= go
# The envoyproxy/ratelimit service the integration tests run against.
RATELIMIT_VERSION := v1.4.1-0.20260122083618-3fb702589d36
RATELIMIT_BIN     := $(BIN)/service_cmd
# Helm, for the chart tests (k8s/chart_test.go): built from its module.
HELM_VERSION := v3.22.0
HELM_BIN     := $(BIN)/helm-$(HELM_VERSION)
GITLEAKS_VERSION := v8.30.1
GITLEAKS_BIN     := $(BIN)/gitleaks-$(GITLEAKS_VERSION)
# A throwaway database per test run is created from this server DSN.
PARTNERGATE_TEST_POSTGRES ?= postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable
export PARTNERGATE_TEST_POSTGRES

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: build
build: ## Build bin/partnergate.
	$(GO) build -trimpath -o $(BIN)/partnergate ./cmd/partnergate

.PHONY: run
run: build ## Build and run the server on the embedded SQLite store in ./data.
	@mkdir -p $(DATA)
	$(BIN)/partnergate serve --store sqlite://$(DATA)/partnergate.db --log-format text $(ARGS)

.PHONY: test
test: test-services test-proxies $(HELM_BIN) $(GITLEAKS_BIN) ## Run every test (starts PostgreSQL and Redis, installs envoyproxy/ratelimit, nginx, Caddy, Helm and gitleaks).
	PARTNERGATE_RATELIMIT_BIN=$(RATELIMIT_BIN) PARTNERGATE_HELM_BIN=$(HELM_BIN) PARTNERGATE_GITLEAKS_BIN=$(GITLEAKS_BIN) $(GO) test -race -count=1 -timeout 9m ./...

.PHONY: test-short
test-short: ## Run the tests that need no external service.
	$(GO) test -race -count=1 -short ./...

.PHONY: test-services
test-services: $(RATELIMIT_BIN) ## Start PostgreSQL and Redis if they are down.
	@pg_isready -q -h 127.0.0.1 -p 5432 || { \
		echo "starting PostgreSQL"; \
		pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql) main start; \
		for i in $$(seq 50); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 0.2; done; }
	@redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 || { \
		echo "starting Redis"; mkdir -p /var/lib/redis /var/log/redis; \
		redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
			--dir /var/lib/redis --logfile /var/log/redis/ci.log; \
		for i in $$(seq 50); do redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break; sleep 0.2; done; }

# The proxy tests (internal/proxies) run Debian's nginx and Caddy. If they
# cannot be installed, say so and go on: those tests then fail, naming
# what is missing.
.PHONY: test-proxies
test-proxies: ## Install nginx and Caddy (Debian packages) if they are missing.
	@$(call apt-install,nginx:/usr/sbin/nginx caddy:/usr/bin/caddy)

# apt-install installs each package:binary pair whose binary is missing,
# after an apt-get update; a failure is reported, not fatal.
define apt-install
missing=""; for pair in $(1); do test -x "$${pair#*:}" || missing="$$missing $${pair%%:*}"; done; \
if [ -n "$$missing" ]; then \
	echo "installing$$missing"; \
	{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; } \
		|| echo "could not install$$missing: what needs it will fail, naming it"; \
fi
endef

$(RATELIMIT_BIN):
	@echo "installing envoyproxy/ratelimit $(RATELIMIT_VERSION)"
	GOBIN=$(BIN) $(GO) install github.com/envoyproxy/ratelimit/src/service_cmd@$(RATELIMIT_VERSION)

# The version is in the file name, so a new HELM_VERSION is installed anew.
$(HELM_BIN):
	@echo "installing helm $(HELM_VERSION)"
	@mkdir -p $(BIN)
	GOBIN=$(BIN)/.helm-$(HELM_VERSION) $(GO) install helm.sh/helm/v3/cmd/helm@$(HELM_VERSION)
	mv $(BIN)/.helm-$(HELM_VERSION)/helm $@ && rmdir $(BIN)/.helm-$(HELM_VERSION)

# gitleaks checks the shipped detector rule (internal/detectors/) against partnergate scan.
$(GITLEAKS_BIN):
	@echo "installing gitleaks $(GITLEAKS_VERSION)"
	@mkdir -p $(BIN)
	GOBIN=$(BIN)/.gitleaks-$(GITLEAKS_VERSION) $(GO) install github.com/zricethezav/gitleaks/v8@$(GITLEAKS_VERSION)
	mv $(BIN)/.gitleaks-$(GITLEAKS_VERSION)/gitleaks $@ && rmdir $(BIN)/.gitleaks-$(GITLEAKS_VERSION)

.PHONY: bench-scan
bench-scan: $(GITLEAKS_BIN) ## partnergate scan against gitleaks on a generated 1 GiB tree (SCAN_MIB to change; about 10 minutes).
	PARTNERGATE_SCAN_BENCH_MIB=$(SCAN_MIB) PARTNERGATE_GITLEAKS_BIN=$(GITLEAKS_BIN) $(GO) test -run '^$$' -bench BenchmarkScanTree -benchtime 2x -timeout 30m ./internal/detectors/

SCAN_MIB ?= 1024

# The load benchmark pins the servers to CPU 0 and its client to CPU 1.
BENCH_KEYS   ?= 1000000
BENCH_ROUNDS ?= 5
BENCH_RUN    ?= 3s
# Numbers of distinct keys in use measured beside the 1,000-key runs, and
# distinct RS256 tokens in use. The tokens are signed while the store is
# seeded, by a child allowed on every CPU (pgload mint), not on the
# client's one core, where 100,000 RSA-2048 signatures took minutes.
BENCH_SPREAD        ?= 10000,100000
BENCH_SPREAD_TOKENS ?= 100000

.PHONY: bench
bench: bench-micro bench-load bench-feed bench-http bench-scale ## Run the micro-benchmarks, the load benchmarks, the busy feed, then the 10,000,000-key scale run (about 25 minutes on a quiet machine).

.PHONY: bench-micro
bench-micro: ## Run the Go micro-benchmarks.
	@echo "machine: $$(nproc) CPUs, $$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)"
	$(GO) test -run='^$$' -bench=. -benchmem -count=1 ./...

.PHONY: bench-load
bench-load: ## Load-test partnergate against a do-nothing ext_authz baseline (installs h2load if it can).
	@$(call apt-install,nghttp2-client:/usr/bin/h2load)
	$(GO) build -trimpath -o $(BIN)/pgload ./cmd/pgload
	taskset -c 1 $(BIN)/pgload bench -server-cpu 0 -keys $(BENCH_KEYS) -rounds $(BENCH_ROUNDS) -duration $(BENCH_RUN) \
		-spread $(BENCH_SPREAD) -spread-tokens $(BENCH_SPREAD_TOKENS)

# The busy feed: replicas A and B on a throwaway PostgreSQL database (made
# on PARTNERGATE_TEST_POSTGRES and dropped), allowed Checks at B in closed
# loop with and without FEED_RATE revocations a second written through A's
# admin API. B runs on CPU 0; this process (the Check client and the
# revocation writers) and A on CPU 1; PostgreSQL wherever its server runs.
FEED_KEYS   ?= 100000
FEED_RATE   ?= 1000
FEED_ROUNDS ?= 3
FEED_RUN    ?= 5s

.PHONY: bench-feed
bench-feed: ## Busy feed: B's propagation and allowed-Check throughput under 1,000 revocations/s through A, on PostgreSQL (about a minute).
	$(GO) build -trimpath -o $(BIN)/pgload ./cmd/pgload
	taskset -c 1 $(BIN)/pgload busyfeed -server-cpu 0 -writer-cpu 1 -keys $(FEED_KEYS) -rate $(FEED_RATE) \
		-rounds $(FEED_ROUNDS) -duration $(FEED_RUN)

# The scale run: SCALE_KEYS credentials seeded into a SQLite store in a
# temporary directory (removed after), partnergate started over it, then
# SCALE_REVOCATIONS of them revoked in the store and applied from the feed.
SCALE_KEYS        ?= 10000000
SCALE_REVOCATIONS ?= 1000000

.PHONY: bench-scale
bench-scale: ## Start-up time and memory with 10,000,000 keys loaded, then while 1,000,000 revocations replay from the feed (about 10 minutes).
	$(GO) build -trimpath -o $(BIN)/pgload ./cmd/pgload
	$(BIN)/pgload scale -keys $(SCALE_KEYS) -revocations $(SCALE_REVOCATIONS)

# The HTTP benchmark: nginx in front of partnergate's GET /authorize
# against nginx whose authorization location returns 200, load from
# h2load (Debian's nghttp2-client). This process, partnergate and nginx
# run on CPU 0, h2load on CPU 1.
.PHONY: bench-http
bench-http: ## Benchmark nginx → partnergate GET /authorize against nginx with an auth location returning 200 (about a minute).
	@$(call apt-install,nginx:/usr/sbin/nginx nghttp2-client:/usr/bin/h2load)
	PARTNERGATE_H2LOAD=/usr/bin/h2load PARTNERGATE_BENCH_ROUNDS=$(BENCH_ROUNDS) \
		taskset -c 0 $(GO) test -run '^$$' -bench BenchmarkNginxAuthorize -benchtime 1x -timeout 20m ./internal/proxies/

FUZZ_TIME ?= 30s

.PHONY: fuzz
fuzz: ## Fuzz every Fuzz target in the module (as go test -list finds them) for FUZZ_TIME (30s) each.
	@set -e; n=0; \
	for dir in $$(git grep -l '^func Fuzz' -- '*_test.go' | xargs -n1 dirname | sort -u); do \
		for target in $$($(GO) test -list '^Fuzz' ./$$dir | grep '^Fuzz'); do \
			echo "fuzz ./$$dir $$target"; n=$$((n+1)); \
			$(GO) test -run='^$$' -fuzz="^$$target$$" -fuzztime=$(FUZZ_TIME) ./$$dir; \
		done; \
	done; \
	test $$n -gt 0 || { echo "no Fuzz targets found"; exit 1; }; echo "fuzzed $$n targets"

.PHONY: generate
generate: ## Regenerate the admin API's Go code from proto/.
	./proto/generate.sh

# staticcheck runs at a pinned version, fetched through the Go module proxy.
STATICCHECK_VERSION := v0.8.2

.PHONY: lint
lint: ## gofmt, go vet and staticcheck.
	@test -z "$$(gofmt -l $$(git ls-files '*.go' | grep -v '\.pb\.go$$'))" || { gofmt -l $$(git ls-files '*.go' | grep -v '\.pb\.go$$'); exit 1; }
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...

.PHONY: check-generated
check-generated: ## Fail if make generate or go mod tidy would change the tree.
	./proto/generate.sh
	$(GO) mod tidy
	@test -z "$$(git status --porcelain -- proto go.mod go.sum)" || { \
		git status --porcelain -- proto go.mod go.sum; git diff --stat -- proto go.mod go.sum; \
		echo "make generate or go mod tidy changed the files above: run them and commit the result"; exit 1; }

.PHONY: clean
clean: ## Remove build output (not ./data).
	rm -rf $(BIN)
