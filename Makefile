# signoff: `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

CONFIG ?= deployments/signoff.yaml
# Every module of go.work: shared first, then the services.
MODULES := $(shell go list -m -f '{{.Dir}}' 2>/dev/null)
GOTEST_FLAGS ?= -race -count=1 -timeout 20m

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

.PHONY: run
run: ## run signoff all-in-one (embedded NATS, sample config) on 127.0.0.1:8080
	@echo "signoff on http://$${SIGNOFF_LISTEN:-127.0.0.1:8080} (config $(CONFIG)); try:"
	@echo "  curl -s http://$${SIGNOFF_LISTEN:-127.0.0.1:8080}/.well-known/openid-configuration"
	@echo "  README.md, section 'Walkthrough', for a whole logout with curl"
	go run ./services/signoff -config $(CONFIG)

.PHONY: test
test: ## run every test of every module, with -race
	@for b in chromium chromium-browser google-chrome google-chrome-stable headless-shell; do \
		if command -v $$b >/dev/null; then echo "browser tests: run with $$(command -v $$b)"; exit 0; fi; done; \
		echo "browser tests: no chromium, so they skip (and fail under CI=true): apt-get install -y chromium"
	@if command -v node >/dev/null && command -v npm >/dev/null; then echo "JavaScript example tests: run with node $$(node --version)"; \
		else echo "JavaScript example tests: no node and npm, so they skip (and fail under CI=true)"; fi
	@set -e; for m in $(MODULES); do echo "== go test $$m"; (cd $$m && go test $(GOTEST_FLAGS) ./...); done

.PHONY: test-short
test-short: ## run the unit tests only (-short skips the slow ones)
	@set -e; for m in $(MODULES); do (cd $$m && go test -short ./...); done

.PHONY: demo
demo: ## the click-through demo: a dev IdP, App A and App B on top of the all-in-one (embedded NATS)
	@mkdir -p bin
	go build -o bin/signoff ./services/signoff
	go build -o bin/demo ./services/demo
	@echo "DEMO (not for production): signoff on http://localhost:8080 (config deployments/demo/signoff.yaml),"
	@echo "the dev IdP on http://localhost:9000. Open, side by side:"
	@echo "  App A  http://localhost:9001"
	@echo "  App B  http://localhost:9002"
	@echo "Sign in to both, sign out in App A, watch App B. Ctrl-C stops both."
	@bin/signoff -config deployments/demo/signoff.yaml & signoff=$$!; \
	bin/demo -idp-keys-dir .data/demo/idp-keys & demo=$$!; \
	trap 'kill $$signoff $$demo 2>/dev/null; wait; exit 0' INT TERM; \
	while kill -0 $$signoff 2>/dev/null && kill -0 $$demo 2>/dev/null; do sleep 1 & wait $$!; done; \
	kill $$signoff $$demo 2>/dev/null; wait $$signoff; s=$$?; wait $$demo; d=$$?; \
	if [ $$s -eq 0 ] && [ $$d -eq 0 ]; then exit 0; fi; \
	echo "make demo: signoff (exit $$s) or the demo (exit $$d) stopped; stopped both"; exit 1

.PHONY: e2e
e2e: ## the multi-process end-to-end test: 3-node NATS cluster, two fronts, workers, failures
	cd services/e2e && go test -count=1 -v -timeout 15m -run TestEndToEnd ./...

.PHONY: bench
bench: ## run the Go benchmarks and the load tool (numbers go into docs/benchmarks.md)
	cd shared && go test -run '^$$' -bench . -benchmem ./keys/ ./http1/
	cd services/backchannel && go test -run '^$$' -bench . -benchmem .
	cd services/front && go test -run '^$$' -bench 'ApplyJoined|ApplyDeliveries|SessionLookup|WaitSettled' -benchmem ./internal/index/
	cd services/front && go test -run '^$$' -bench 'MemoryPerSession|Rebuild' -benchtime 1x -short -timeout 60m ./internal/index/ ./internal/sessions/
	go build -o bin/signoff ./services/signoff
	go run ./services/signoff/cmd/loadtest -signoff bin/signoff -matrix -n 300
	go run ./services/signoff/cmd/loadtest -signoff bin/signoff -sizing 10000,50000,100000

.PHONY: build
build: ## build every binary into bin/
	@mkdir -p bin
	go build -o bin/signoff ./services/signoff
	go build -o bin/front ./services/front/cmd/front
	go build -o bin/backchannel ./services/backchannel/cmd/backchannel
	go build -o bin/webhook ./services/webhook/cmd/webhook
	go build -o bin/events ./services/events/cmd/events
	go build -o bin/loadtest ./services/signoff/cmd/loadtest

.PHONY: images
images: ## build the container images signoff/{front,backchannel,webhook,events,signoff,demo}:dev (needs docker)
	@set -e; for svc in front backchannel webhook events signoff demo; do \
		echo "== docker build signoff/$$svc:dev"; \
		docker build -f deployments/docker/$$svc.Dockerfile -t signoff/$$svc:dev .; \
	done

.PHONY: check
check: ## gofmt, go vet, go mod tidy drift, GOWORK=off builds, import boundaries
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt: $$out"; exit 1; fi
	@set -e; bak=$$(mktemp -d); trap 'rm -rf $$bak' EXIT; \
	for m in $(MODULES); do (cd $$m && go vet ./... && GOWORK=off go build -o /dev/null ./... \
		&& cp go.mod $$bak/go.mod && cp go.sum $$bak/go.sum && GOWORK=off go mod tidy \
		&& if ! diff -q go.mod $$bak/go.mod >/dev/null || ! diff -q go.sum $$bak/go.sum >/dev/null; then \
			cp $$bak/go.mod go.mod; cp $$bak/go.sum go.sum; echo "go mod tidy changes $$m"; exit 1; fi); done
	@if (cd shared && go list -deps ./... | grep -q 'signoff/services'); then echo "shared must not import services"; exit 1; fi
	@echo check ok
