# syntax=docker/dockerfile:1
# otelcol-crosshair image: `make image` (needs a container engine).
#
# Stage 1 generates the ocb output (_build/: main.go, components.go, go.mod)
# from builder-config.yaml and compiles it as a static Go binary. Stage 2 is a
# minimal runtime holding that binary and the default config (the node agent's).
#
# The image runs as root (uid 0) by default because the node agent needs
# capabilities (CAP_BPF, CAP_PERFMON, CAP_SYS_PTRACE, CAP_DAC_READ_SEARCH) and
# Kubernetes cannot give a non-root process capabilities: the manifests drop
# every other capability and make the root filesystem read-only. The gateway,
# which needs none, runs the same image as uid 65532 (runAsUser).

# Keep in step with the go directive of go.mod (a test checks it).
ARG GO_VERSION=1.26

FROM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
ENV CGO_ENABLED=0 GOFLAGS=-buildvcs=false
# Dependencies first, so source edits reuse the module download layer.
COPY go.mod go.sum ./
COPY tools/go.mod tools/go.sum tools/
RUN go mod download && go mod download -modfile=tools/go.mod
COPY . .
# --skip-get-modules + `go mod tidy -e`: see the Makefile's build (a test-only module of
# k8sattributesprocessor is not served).
RUN (go tool -modfile=tools/go.mod builder --config builder-config.yaml --skip-compilation || test -f _build/go.mod) \
 && cd _build && go mod tidy -e
RUN cd _build && go build -trimpath -ldflags="-s -w" -o /out/otelcol-crosshair .

FROM gcr.io/distroless/static-debian12 AS runtime
LABEL org.opencontainers.image.title="otelcol-crosshair" \
      org.opencontainers.image.description="OpenTelemetry Collector distribution that tells which hop and which isolation layer made a request slow" \
      org.opencontainers.image.source="https://github.com/crosshair-otel/crosshair"
COPY --from=build /out/otelcol-crosshair /otelcol-crosshair
COPY config/node-agent.yaml /etc/otelcol-crosshair/config.yaml
USER 0:0
# OTLP gRPC, OTLP HTTP, own telemetry, health_check.
EXPOSE 4317 4318 8888 13133
ENTRYPOINT ["/otelcol-crosshair"]
CMD ["--config=/etc/otelcol-crosshair/config.yaml"]
