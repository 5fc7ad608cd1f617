# syntax=docker/dockerfile:1
# signoff front: the OIDC end-session endpoint, discovery, JWKS and the
# /api/v1 session API. Listens on the config's listen (set 0.0.0.0:8080 in
# a container).
#
# Build from the repository root (make images):
#   docker build -f deployments/docker/front.Dockerfile -t signoff/front:dev .
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
COPY services/front/go.mod services/front/go.sum services/front/
RUN --mount=type=cache,target=/go/pkg/mod \
    cd services/front && go mod download
COPY shared/ shared/
COPY services/front/ services/front/
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    cd services/front && go build -trimpath -ldflags "-s -w" -o /out/signoff-front ./cmd/front

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/signoff-front /usr/local/bin/signoff-front
# Mount the configuration here, or point SIGNOFF_CONFIG elsewhere.
ENV SIGNOFF_CONFIG=/etc/signoff/signoff.yaml
USER nonroot
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/signoff-front"]
