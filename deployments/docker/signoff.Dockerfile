# syntax=docker/dockerfile:1
# signoff all-in-one: front and every built-in worker, with an embedded
# NATS JetStream server unless nats.url is set. Set listen (and
# nats.listen, for outside subscribers, with nats.listen_token) to 0.0.0.0
# addresses in a container.
#
# Build from the repository root (make images):
#   docker build -f deployments/docker/signoff.Dockerfile -t signoff/signoff:dev .
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
COPY services/backchannel/go.mod services/backchannel/go.sum services/backchannel/
COPY services/webhook/go.mod services/webhook/go.sum services/webhook/
COPY services/signoff/go.mod services/signoff/go.sum services/signoff/
RUN --mount=type=cache,target=/go/pkg/mod \
    cd services/signoff && go mod download
COPY shared/ shared/
COPY services/front/ services/front/
COPY services/backchannel/ services/backchannel/
COPY services/webhook/ services/webhook/
COPY services/signoff/ services/signoff/
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    cd services/signoff && go build -trimpath -ldflags "-s -w" -o /out/signoff .
# The all-in-one keeps the embedded NATS store and dev keys under its working
# directory (./.data by default): it must be writable by nonroot.
RUN mkdir -p /out/var/lib/signoff

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/signoff /usr/local/bin/signoff
COPY --from=build --chown=nonroot:nonroot /out/var/lib/signoff /var/lib/signoff
WORKDIR /var/lib/signoff
VOLUME /var/lib/signoff
# Mount the configuration here, or point SIGNOFF_CONFIG elsewhere.
ENV SIGNOFF_CONFIG=/etc/signoff/signoff.yaml
USER nonroot
EXPOSE 8080 4222
ENTRYPOINT ["/usr/local/bin/signoff"]
