# syntax=docker/dockerfile:1
# signoff DEMO (not for production): the dev identity provider (port 9000)
# and the demo relying parties App A (9001) and App B (9002) of
# services/demo. It is a separate image: the production images of the
# front, the workers and the all-in-one never contain it.
#
# Build from the repository root (make images):
#   docker build -f deployments/docker/demo.Dockerfile -t signoff/demo:dev .
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
COPY services/demo/go.mod services/demo/go.sum services/demo/
RUN --mount=type=cache,target=/go/pkg/mod \
    cd services/demo && go mod download
COPY shared/ shared/
COPY services/demo/ services/demo/
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    cd services/demo && go build -trimpath -ldflags "-s -w" -o /out/signoff-demo .

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/signoff-demo /usr/local/bin/signoff-demo
# In a container, listen on every interface; flags override these
# (docker-compose.yml sets the URLs of signoff).
ENV DEMO_IDP_LISTEN=0.0.0.0:9000 \
    DEMO_APP_A_LISTEN=0.0.0.0:9001 \
    DEMO_APP_B_LISTEN=0.0.0.0:9002 \
    DEMO_LOG_FORMAT=json
USER nonroot
EXPOSE 9000 9001 9002
ENTRYPOINT ["/usr/local/bin/signoff-demo"]
