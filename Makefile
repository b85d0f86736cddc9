# Crosshair — build, run and test otelcol-crosshair.
SHELL := /bin/bash
GO    ?= go
TOOLS := $(GO) tool -modfile=tools/go.mod
BIN   := _build/otelcol-crosshair
# Every collector config we ship; `make test` validates each with the binary.
CONFIGS := $(shell find config -name '*.yaml' -path '*config/*' -not -path '*/k8s/*' | sort)
SOURCES := $(shell find receiver processor exporter internal bpf -type f \( -name '*.go' -o -name '*.o' -o -name '*.yaml' -o -name '*.html' \) 2>/dev/null)
# The Kubernetes manifests' tests are a module of their own (config/k8s/go.mod).
K8S_MODULE := config/k8s
# The end-to-end demo system and harness are a module too (e2e/go.mod).
E2E_MODULE := e2e
IMAGE  ?= ghcr.io/crosshair-otel/otelcol-crosshair:0.1.0
DOCKER ?= docker
# Packages needed by `make generate` and the kernel tests (Debian names).
APT_PACKAGES := clang-19 llvm-19 libbpf-dev bpftool nftables ethtool iproute2

.PHONY: build run demo test unit validate-configs generate bpf-toolchain bench e2e e2e-cleanup lint tracefs clean image

build: $(BIN)

# ocb's own `go mod tidy` fails at contrib v0.161: k8sattributesprocessor's tests import
# pkg/semconvtest, which the module proxy does not serve. The binary never needs it, so
# the build lets ocb write the sources and go.mod (its tidy is the step that fails; ocb
# writes go.mod only on the path that runs it), tidies with -e (missing test-only modules
# are not errors) and compiles; anything the binary does need still fails the compile.
$(BIN): builder-config.yaml go.mod go.sum $(SOURCES)
	rm -f _build/go.mod _build/go.sum
	$(TOOLS) builder --config builder-config.yaml --skip-compilation || test -f _build/go.mod
	cd _build && $(GO) mod tidy -e
	$(TOOLS) builder --config builder-config.yaml --skip-generate --skip-get-modules

# Run the collector on the local demo config: kernel events on the console,
# OTLP on 127.0.0.1:4317/4318. Needs root (or CAP_BPF + CAP_PERFMON).
run: build tracefs
	@echo "crosshair: send spans over OTLP to 127.0.0.1:4317 (gRPC) or http://127.0.0.1:4318 (HTTP);"
	@echo "crosshair: slow traces are diagnosed on this console and drawn at http://127.0.0.1:8787/"
	@echo "crosshair: the collector's first lines name this node's placement and the probes attached or skipped"
	$(BIN) --config config/local.yaml

# Classic tracepoints are found through tracefs.
tracefs:
	@[ -d /sys/kernel/tracing/events ] || mount -t tracefs nodev /sys/kernel/tracing

test: build tracefs unit validate-configs

unit:
	$(GO) test -count=1 -timeout 20m ./...
	$(GO) -C $(K8S_MODULE) test -count=1 ./...
	$(GO) -C $(E2E_MODULE) test -count=1 -run '^Test[^E]' ./...

validate-configs: build
	@for c in $(CONFIGS); do \
		K8S_NODE_NAME=$${K8S_NODE_NAME:-validate-node} $(BIN) validate --config $$c || { echo "invalid: $$c"; exit 1; }; \
		echo "valid: $$c"; \
	done
	@# The collector configs inside the Kubernetes manifests (operator CR, ConfigMaps).
	$(GO) -C $(K8S_MODULE) test -count=1 -run '^TestCarriedConfigs' ./...

# Regenerate the BPF objects (bpf2go) and the mdatagen code. Installs the
# BPF toolchain from Debian packages when it is missing.
generate: bpf-toolchain
	$(GO) generate ./...

bpf-toolchain:
	@command -v clang-19 >/dev/null && command -v llvm-strip-19 >/dev/null && [ -f /usr/include/bpf/bpf_helpers.h ] || { \
		echo "installing $(APT_PACKAGES)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(APT_PACKAGES); }

# Component benchmarks, then the collector-level harness (bench/collector):
# the built binary under OTLP load vs the stock pipeline in the same run.
# Results: bench/results/ (the figures in docs/performance.md come from it).
bench: build tracefs
	mkdir -p bench/results
	$(GO) test -count=1 -run '^$$' -bench . -benchmem ./... | tee bench/results/components.txt
	$(GO) run ./bench/collector -bin $(BIN) | tee bench/results/collector.md

# End-to-end scenarios (issue 8): the traced demo system in namespaces and
# cgroups, real faults, precision/recall of isolation.layer and the
# diagnosis reports. A module of its own (e2e/go.mod). Root; ~6 minutes on a
# quiet machine (six scenarios), the timeout leaves room for a busy one.
# CHX_E2E_SCENARIOS=loss,cpu runs a subset; artefacts land in e2e/_out/.
# Whatever happens, `chx-demo cleanup` removes every chx-e2e-* fixture.
e2e: build tracefs
	@rc=0; $(GO) -C $(E2E_MODULE) test -count=1 -v -timeout 25m -run '^TestE2E$$' . || rc=$$?; \
		$(GO) -C $(E2E_MODULE) run ./cmd/chx-demo cleanup || rc=1; exit $$rc

# The product working, for a newcomer (issue 17), as root: the e2e's traced
# demo services and the collector with the crosshair view on, a no-fault
# phase, then one fault (SCENARIO=loss|cpu|sandbox|disk). Prints the view's
# URL and one line per diagnosed trace (slow hop, layer, cause); after the
# fault phase the page stays up until Ctrl-C. On exit or Ctrl-C everything
# it created (namespaces, cgroups, nft tables, loop device, processes) is
# removed.
SCENARIO ?= loss
demo: build tracefs
	@trap : INT TERM; rc=0; \
		CHX_DEMO=1 CHX_E2E_SCENARIOS=$(SCENARIO) $(GO) -C $(E2E_MODULE) test -count=1 -v -timeout 0 -run '^TestE2E$$' . || rc=$$?; \
		$(GO) -C $(E2E_MODULE) run ./cmd/chx-demo cleanup || rc=1; \
		[ $$rc = 0 ] || echo "make demo: the run failed or missed an e2e target (scores above, artefacts in e2e/_out/)"; exit $$rc

e2e-cleanup:
	$(GO) -C $(E2E_MODULE) run ./cmd/chx-demo cleanup

lint:
	@out=$$(gofmt -l receiver processor internal exporter $(K8S_MODULE) $(E2E_MODULE) 2>/dev/null); [ -z "$$out" ] || { echo "gofmt needed:"; echo "$$out"; exit 1; }
	$(GO) vet ./...
	$(GO) -C $(K8S_MODULE) vet ./...
	$(GO) -C $(E2E_MODULE) vet ./...

# Build the container image (Dockerfile) where a container engine runs.
# Without one, say so and stop: nothing is built.
image:
	@command -v $(DOCKER) >/dev/null 2>&1 || { \
		echo "make image: no container engine: '$(DOCKER)' is not installed. Install Docker (or set DOCKER=podman) to build $(IMAGE)."; exit 2; }
	@$(DOCKER) info >/dev/null 2>&1 || { \
		echo "make image: no container engine: '$(DOCKER) info' cannot reach a daemon (client only, or the engine is stopped). Nothing was built."; \
		echo "make image: on a machine with an engine: $(DOCKER) build -t $(IMAGE) ."; exit 2; }
	$(DOCKER) build -t $(IMAGE) .
	@echo "built $(IMAGE)"

clean:
	rm -rf _build
