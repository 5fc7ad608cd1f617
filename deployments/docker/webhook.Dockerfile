# syntax=docker/dockerfile:1
# signoff webhook worker: signed JSON logout events. Serves /metrics,
# /healthz and /readyz on -metrics-listen (0.0.0.0:9102 here); needs nats.url.
#
# Build from the repository root (make images):
#   docker build -f deployments/docker/webhook.Dockerfile -t signoff/webhook:dev .
#
# The service module is built with GOWORK=off: its go.mod replaces the
# signoff modules it needs with relative paths, so only those directories are
# copied (go.work also lists the examples and deploycheck, which the image
# does not need). services/deploycheck checks that the COPY lines suffice.

FROM golang:1.26 AS build
ENV GOTOOLCHAIN=local CGO_ENABLED=0 GOWORK=off
WORKDIR /src
# Module files first: dependencies download once per go.mod change, into
# a BuildKit cache mount shared with the build step.
COPY shared/go.mod shared/go.sum shared/
COPY services/webhook/go.mod services/webhook/go.sum services/webhook/
RUN --mount=type=cache,target=/go/pkg/mod \
    cd services/webhook && go mod download
COPY shared/ shared/
COPY services/webhook/ services/webhook/
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    cd services/webhook && go build -trimpath -ldflags "-s -w" -o /out/signoff-webhook ./cmd/webhook

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/signoff-webhook /usr/local/bin/signoff-webhook
# Mount the configuration here, or point SIGNOFF_CONFIG elsewhere.
ENV SIGNOFF_CONFIG=/etc/signoff/signoff.yaml
USER nonroot
EXPOSE 9102
ENTRYPOINT ["/usr/local/bin/signoff-webhook"]
CMD ["-metrics-listen", "0.0.0.0:9102"]
