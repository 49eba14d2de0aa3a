# `make run` starts the monitor; `make test` runs every test. Each installs
# what it needs first (see scripts/ensure-deps).

GO ?= go

.PHONY: run test build vet screenshot

# run builds bin/uptime and runs it in make's place, so that Ctrl-C stops
# it cleanly (go run would report an interrupted program as failed).
run: build
	@if [ -z "$$DATABASE_URL" ]; then ./scripts/ensure-deps postgres; fi
	exec ./bin/uptime run

test:
	@./scripts/ensure-deps postgres chromium
	$(GO) test -timeout 30m ./...

# screenshot refreshes docs/dashboard.png from the browser test.
screenshot:
	@./scripts/ensure-deps postgres chromium
	UPTIME_UPDATE_SCREENSHOT=1 $(GO) test -count=1 -run TestScreenshot ./frontend

build:
	$(GO) build -o bin/uptime .

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt would change these files"; exit 1; }
	$(GO) vet ./...
