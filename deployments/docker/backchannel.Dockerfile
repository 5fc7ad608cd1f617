# syntax=docker/dockerfile:1
# signoff back-channel logout worker. Serves /metrics, /healthz and /readyz on
# -metrics-listen (0.0.0.0:9101 here); needs nats.url.
#
# Build from the repository root (make images):
#   docker build -f deployments/docker/backchannel.Dockerfile -t signoff/backchannel:dev .
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
COPY services/backchannel/go.mod services/backchannel/go.sum services/backchannel/
RUN --mount=type=cache,target=/go/pkg/mod \
    cd services/backchannel && go mod download
COPY shared/ shared/
COPY services/backchannel/ services/backchannel/
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    cd services/backchannel && go build -trimpath -ldflags "-s -w" -o /out/signoff-backchannel ./cmd/backchannel

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/signoff-backchannel /usr/local/bin/signoff-backchannel
# Mount the configuration here, or point SIGNOFF_CONFIG elsewhere.
ENV SIGNOFF_CONFIG=/etc/signoff/signoff.yaml
USER nonroot
EXPOSE 9101
ENTRYPOINT ["/usr/local/bin/signoff-backchannel"]
CMD ["-metrics-listen", "0.0.0.0:9101"]
