# syntax=docker/dockerfile:1
#
# allforone in a container: the static binary (CGO_ENABLED=0) on scratch, nothing else.
#
#   docker build -t allforone .
#   docker run --rm -v allforone:/data allforone init        # once: identity and config
#   docker run -d --name allforone -v allforone:/data -p 4501:4501 -p 4501:4501/udp allforone
#   docker exec allforone /allforone peers                   # the API listens inside
#
# Build arguments: VERSION and COMMIT (shown by `allforone version`), GO_VERSION.
# The "testnet" target adds busybox for compose.yaml's five-node testnet.

ARG GO_VERSION=1.26

FROM golang:${GO_VERSION} AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
ARG COMMIT=
RUN CGO_ENABLED=0 go build -trimpath \
        -ldflags "-s -w -X main.version=${VERSION} -X main.commit=${COMMIT}" \
        -o /out/allforone ./cmd/allforone \
    && mkdir -p /out/data

# compose.yaml's nodes: the same binary with a shell for docker/testnet-node.sh.
FROM busybox:1.37 AS testnet
COPY --from=build /out/allforone /usr/local/bin/allforone
COPY docker/testnet-node.sh /usr/local/bin/testnet-node
ENV ALLFORONE_PATH=/data
VOLUME /data
ENTRYPOINT ["testnet-node"]

# The release image (the default target): the binary, an empty data dir, no shell.
FROM scratch
COPY --from=build /out/allforone /allforone
COPY --from=build --chown=65532:65532 /out/data /data
ENV ALLFORONE_PATH=/data
USER 65532:65532
VOLUME /data
EXPOSE 4501/tcp 4501/udp
ENTRYPOINT ["/allforone"]
CMD ["daemon"]
