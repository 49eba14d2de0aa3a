# `make run` starts the monitor; `make test` runs every test. Each installs
# what it needs first (see scripts/ensure-deps).

GO ?= go

.PHONY: run test chaos build image vet screenshot bench bench-push bench-steady bench-history bench-metrics bench-page bench-reads bench-auth

# run builds bin/uptime and runs it in make's place, so that Ctrl-C stops
# it cleanly (go run would report an interrupted program as failed). ARGS
# are passed to uptime run, as in make run ARGS="--addr 127.0.0.1:4001".
run: build
	@if [ -z "$$DATABASE_URL" ]; then ./scripts/ensure-deps postgres; fi
	exec ./bin/uptime run $(ARGS)

test:
	@./scripts/ensure-deps postgres chromium podman
	$(GO) test -timeout 30m ./...

# chaos runs the slow fault tests against the real binary (SIGKILL loops,
# PostgreSQL stopped under load, a full disk, a webhook down for minutes)
# and writes their figures to chaos-results.md (see BENCHMARKS.md, Faults).
# The full-disk test mounts a small tmpfs, so it runs as root.
chaos:
	@./scripts/ensure-deps postgres
	rm -f chaos-results.md
	UPTIME_CHAOS_DIR=$(CURDIR) $(GO) test -tags chaos -count=1 -timeout 40m -run Chaos -v .
	@cat chaos-results.md

# screenshot refreshes docs/dashboard.png from the browser test.
screenshot:
	@./scripts/ensure-deps postgres chromium
	UPTIME_UPDATE_SCREENSHOT=1 $(GO) test -count=1 -run TestScreenshot ./frontend

build:
	$(GO) build -ldflags "-X uptime/internal/version.Version=$$(git describe --always --dirty 2>/dev/null || echo dev)" -o bin/uptime .

# image builds the OCI image uptime:latest from scratch with podman (see
# Containerfile and scripts/image); IMAGE names it otherwise.
image:
	@./scripts/ensure-deps podman
	./scripts/image

# bench measures Uptime with 1,000, 10,000 and 100,000 sites against a bare
# loop over the same fake sites (see BENCHMARKS.md); BENCH_SIZES, BENCH_TICKS
# and BENCH_FARM (loopback, or internet: a share over HTTPS and every site
# 20 to 300 ms away) change what it runs. It writes bench-results.md.
BENCH_SIZES ?= 1000,10000,100000
BENCH_TICKS ?= 3
BENCH_FARM ?= loopback
bench: build
	@./scripts/ensure-deps postgres chromium
	$(GO) build -o bin/uptime-bench ./cmd/uptime-bench
	./bin/uptime-bench -uptime bin/uptime -n $(BENCH_SIZES) -ticks $(BENCH_TICKS) -farm $(BENCH_FARM) -o bench-results.md

# bench-steady holds a steady state instead of single ticks: BENCH_SIZES
# sites imported with BENCH_INTERVAL, checked by the scheduler on
# BENCH_INSTANCES instances of one database for BENCH_DURATION after a
# warm-up of one interval (with BENCH_LOCATIONS=1, each instance a location
# of its own), takes some sites down and times the alerts; with two
# instances in one location it then kills one and times how long until
# every site is checked again. BENCH_KINDS (for example
# http,tcp,tls,dns,icmp) measures BENCH_SIZES sites of each kind, each kind
# alone and then all together, on a farm that serves them all.
# BENCH_PG_STATEMENTS=1 loads pg_stat_statements and reports PostgreSQL's
# costliest statements in the window, its CPU by kind of process and the
# tables autovacuum vacuumed. It writes bench-steady-results.md.
BENCH_INTERVAL ?= 1m
BENCH_DURATION ?= 10m
BENCH_INSTANCES ?= 1
BENCH_LOCATIONS ?=
BENCH_KINDS ?= http
BENCH_PG_STATEMENTS ?=
bench-steady: build
	@./scripts/ensure-deps postgres
	$(GO) build -o bin/uptime-bench ./cmd/uptime-bench
	./bin/uptime-bench -uptime bin/uptime -steady -n $(BENCH_SIZES) -interval $(BENCH_INTERVAL) \
		-duration $(BENCH_DURATION) -instances $(BENCH_INSTANCES) $(if $(BENCH_LOCATIONS),-locations) \
		-kinds $(BENCH_KINDS) -farm $(BENCH_FARM) $(if $(BENCH_PG_STATEMENTS),-pg-statements) -o bench-steady-results.md

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt would change these files"; exit 1; }
	@$(GO) mod tidy -diff || { echo "go.mod or go.sum is not tidy: run go mod tidy"; exit 1; }
	$(GO) vet ./...

# bench-push measures BENCH_PUSH_SITES push sites expected every minute
# with one instance: signals taken as fast as they come, then at
# BENCH_PUSH_RATE a second with their answer times and CPU per signal
# (Uptime's and PostgreSQL's), then 1,000 sites missing their deadline at
# once and the delay to Slack. It writes bench-push-results.md.
BENCH_PUSH_SITES ?= 100000
BENCH_PUSH_RATE ?= 2000
bench-push: build
	$(GO) build -o bin/uptime-bench ./cmd/uptime-bench
	./bin/uptime-bench -uptime bin/uptime -push -n $(BENCH_PUSH_SITES) -push-rate $(BENCH_PUSH_RATE) $(if $(BENCH_PG_STATEMENTS),-pg-statements) -o bench-push-results.md

# bench-history loads BENCH_HISTORY_SITES sites checked every minute for
# BENCH_HISTORY_DAYS days (and a year of daily rollups before them) into a
# throwaway cluster, and times /history's queries from the rollups against
# the same on raw rows, a day dropped against its rows deleted, and the
# upgrade of a database of BENCH_HISTORY_UPGRADE_ROWS checks in the
# previous schema. It writes bench-history-results.md.
BENCH_HISTORY_SITES ?= 1000
BENCH_HISTORY_DAYS ?= 30
BENCH_HISTORY_UPGRADE_ROWS ?= 10000000
bench-history:
	@./scripts/ensure-deps postgres
	BENCH_HISTORY_SITES=$(BENCH_HISTORY_SITES) BENCH_HISTORY_DAYS=$(BENCH_HISTORY_DAYS) \
	BENCH_HISTORY_UPGRADE_ROWS=$(BENCH_HISTORY_UPGRADE_ROWS) BENCH_HISTORY_OUT=$(CURDIR)/bench-history-results.md \
	$(GO) test -tags historybench -count=1 -timeout 3h -run TestHistoryBenchmark -v ./monitor
	@cat bench-history-results.md

# bench-metrics times GET /metrics with BENCH_METRICS_SITES checked sites,
# with the per-site series and without. It writes bench-metrics-results.md.
BENCH_METRICS_SITES ?= 100000
bench-metrics:
	@./scripts/ensure-deps postgres
	BENCH_METRICS_SITES=$(BENCH_METRICS_SITES) BENCH_METRICS_OUT=$(CURDIR)/bench-metrics-results.md \
	$(GO) test -tags metricsbench -count=1 -timeout 30m -run TestMetricsBenchmark -v ./monitor
	@cat bench-metrics-results.md

# bench-page times GET /p/:slug for a page of 500 sites with 90 days of
# history, rendered afresh and cached under 1,000 requests a second for
# 30 s. It writes bench-page-results.md.
bench-page:
	@./scripts/ensure-deps postgres
	BENCH_PAGE_OUT=$(CURDIR)/bench-page-results.md \
	$(GO) test -tags pagebench -count=1 -timeout 30m -run TestPageBenchmark -v ./statuspage
	@cat bench-page-results.md

# bench-auth times one read sent with the API key, with a token and with a
# session cookie, interleaved on one server: what checking who calls adds.
# It writes bench-auth-results.md.
bench-auth:
	@./scripts/ensure-deps postgres
	BENCH_AUTH_OUT=$(CURDIR)/bench-auth-results.md \
	$(GO) test -tags authbench -count=1 -timeout 30m -run TestAuthBenchmark -v ./internal/app
	@cat bench-auth-results.md

# bench-reads runs the real binary with BENCH_READS_SITES sites and 20
# clients asking for every site at once (GET /site, unpaged) while the
# dashboard reads the states of some, and measures the process's memory
# and the dashboard's latency meanwhile. It writes bench-reads-results.md.
BENCH_READS_SITES ?= 100000
bench-reads:
	@./scripts/ensure-deps postgres
	BENCH_READS_SITES=$(BENCH_READS_SITES) BENCH_READS_OUT=$(CURDIR)/bench-reads-results.md \
	$(GO) test -tags readbench -count=1 -timeout 30m -run TestReadsBenchmark -v .
	@cat bench-reads-results.md
