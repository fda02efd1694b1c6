# spoa-jwt container image: the SPOE agent only (HAProxy runs in its own container or on the host;
# see conf/docker/README.md for the compose file and the `docker run` pair, conf/k8s/ for a pod).
#
#   docker build -t spoa-jwt:local .
#   docker run --rm -e SPOA_JWT_JWKS_URI=https://idp.example/.well-known/jwks.json spoa-jwt:local
#
# Stage "build" runs the Makefile's default target (`make`, the same command as on a workstation;
# tests/container/build-on-host.sh replays this stage's COPY/RUN steps on the host to prove it).
# Stage "runtime" is bookworm-slim with only the shared libraries the binary links to.
#
# SECURITY: SPOP has no authentication and no encryption. Inside the container the agent listens
# on 0.0.0.0:12345 (SPOA_JWT_LISTEN) so that HAProxy in another container can reach it: publish
# that port to nobody (no `-p 12345:12345`), keep it on a private container network shared only
# with HAProxy, or share one network namespace and set SPOA_JWT_LISTEN=127.0.0.1:12345 (the
# compose file and the Kubernetes pod do that).

FROM debian:bookworm AS build
# The same packages as scripts/deps.sh installs for building.
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential pkg-config libev-dev \
        libcurl4-openssl-dev libjansson-dev libssl-dev libmicrohttpd-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Only what `make` reads: the Makefile, the sources, and the unit tests (with the test vectors
# they include) and tools that it also builds.
COPY Makefile ./
COPY spop/ spop/
COPY agent/ agent/
COPY tests/unit/ tests/unit/
COPY tests/vectors/ tests/vectors/
COPY tests/tools/ tests/tools/
RUN make \
    && ./build/release/spoa-jwt --version

FROM debian:bookworm-slim AS runtime
# Runtime libraries of build/release/spoa-jwt (libev.so.4, libcurl.so.4, libjansson.so.4,
# libcrypto.so.3, libmicrohttpd.so.12) and the CA bundle for https:// JWKS URIs.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libev4 libcurl4 libjansson4 libssl3 \
        libmicrohttpd12 ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 spoa \
    && useradd --system --uid 10001 --gid spoa --home-dir /nonexistent --no-create-home \
        --shell /usr/sbin/nologin spoa \
    && mkdir -p /etc/spoa-jwt
COPY --from=build /src/build/release/spoa-jwt /usr/local/bin/spoa-jwt
COPY conf/docker/entrypoint.sh /usr/local/bin/spoa-jwt-entrypoint
# Configuration: either environment variables (SPOA_JWT_*; see conf/docker/entrypoint.sh) or a
# JSON file mounted at /etc/spoa-jwt/config.json (format: README.md, conf/spoa-jwt.example.json).
ENV SPOA_JWT_LISTEN=0.0.0.0:12345
USER 10001:10001
# SPOP. Prometheus metrics are off unless SPOA_JWT_METRICS=ADDR:PORT (e.g. 0.0.0.0:9464).
EXPOSE 12345
# A real SPOP health check: a HAPROXY-HELLO with healthcheck=true, exit 0 on a valid AGENT-HELLO.
# If you move the agent to another port, override this (compose: healthcheck.test).
HEALTHCHECK --interval=10s --timeout=3s --retries=3 \
    CMD ["spoa-jwt", "healthcheck", "127.0.0.1:12345"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["spoa-jwt-entrypoint"]
CMD []
