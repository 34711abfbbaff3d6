# syntax=docker/dockerfile:1
#
# patchgate — container image for `patchgate serve` (the GitHub App's webhook service).
#
#   docker build -t patchgate .
#   docker run -p 8080:8080 -v patchgate-data:/var/lib/patchgate \
#     -e PATCHGATE_WEBHOOK_SECRET=… -e PATCHGATE_GITHUB_APP_ID=… \
#     -e PATCHGATE_GITHUB_PRIVATE_KEY=/run/secrets/app.pem … patchgate
#
# docs/deployment.md lists every variable. The image is also a plain `patchgate` CLI:
# `docker run --rm patchgate config explain`.

ARG RUST_VERSION=1.95
# Debian 13 (trixie): its git (2.47) computes reverts — `patchgate rollback` and the server's
# automatic rollbacks run `git merge-tree --write-tree --merge-base`, which needs git 2.40 or
# newer; bookworm's git is 2.39.
ARG DEBIAN_RELEASE=trixie

# ---- builder ---------------------------------------------------------------------------
FROM rust:${RUST_VERSION}-slim-${DEBIAN_RELEASE} AS builder
# Compiled from source and linked statically: libgit2 (libgit2-sys, vendored: no libgit2-dev
# is installed), SQLite (sqlx's bundled libsqlite3-sys), ring (the one TLS crypto provider of
# rustls, for GitHub, the model APIs and PostgreSQL) and the tree-sitter grammars (all C, no C++ scanner). git2 is built with its `https`
# feature (mirrors are fetched and pushed over HTTPS), which links OpenSSL through openssl-sys:
# statically, from libssl-dev's libssl.a/libcrypto.a (.cargo/config.toml; zlib likewise, from
# libz-sys' sources), so the runtime needs no libssl3 — rebuild the image to take an OpenSSL
# fix (docs/security.md, "OpenSSL"). No libssh2. gcc comes with the image.
RUN apt-get update \
 && apt-get install -y --no-install-recommends pkg-config libssl-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src

# Dependency layer: manifests, lock file and the build script's input only, with stub
# sources, so the dependencies compile once and stay cached until Cargo.toml/Cargo.lock change.
COPY Cargo.toml Cargo.lock build.rs ./
# The build's environment: OpenSSL and zlib linked statically.
COPY .cargo ./.cargo
COPY grammars ./grammars
# Cargo.toml names its benchmarks: the manifest does not parse without their files.
COPY benches ./benches
RUN mkdir -p src \
 && echo 'fn main() {}' > src/main.rs \
 && echo '' > src/lib.rs \
 && cargo build --release --locked --bin patchgate \
 && rm -rf src target/release/.fingerprint/patchgate-* target/release/deps/patchgate-* \
           target/release/deps/libpatchgate-* target/release/patchgate*

# The crate itself: sources and what they embed at compile time (rules, migrations).
COPY src ./src
COPY rules ./rules
COPY migrations ./migrations
RUN cargo build --release --locked --bin patchgate \
 && install -D -m 0755 target/release/patchgate /out/patchgate \
 && /out/patchgate --version

# ---- runtime ---------------------------------------------------------------------------
FROM debian:${DEBIAN_RELEASE}-slim AS runtime
# ca-certificates: TLS to api.github.com, git's HTTPS and the model endpoints (OpenSSL is in
# the binary, see the builder). git (2.47 here; 2.40 or newer is
# required): a revert is computed by git's own merge (`git merge-tree`), so it is exactly
# `git revert`'s; fetching, pushing and reading the mirrors stay with libgit2, linked into the
# binary. No curl, hence no HEALTHCHECK: probe GET /healthz and /readyz from the orchestrator
# (deploy/kubernetes/).
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates git \
 && rm -rf /var/lib/apt/lists/* \
 && git --version \
 && groupadd --system --gid 10001 patchgate \
 && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/patchgate \
            --no-create-home --shell /usr/sbin/nologin patchgate \
 && install -d -o 10001 -g 10001 -m 0750 /var/lib/patchgate
COPY --from=builder /out/patchgate /usr/local/bin/patchgate

# The data directory: patchgate.db (SQLite, when DATABASE_URL is unset), mirrors/ (one bare
# git mirror per repository). Mount a volume here; it must be writable by uid 10001.
ENV PATCHGATE_DATA_DIR=/var/lib/patchgate \
    PATCHGATE_LISTEN=0.0.0.0:8080
VOLUME ["/var/lib/patchgate"]
WORKDIR /var/lib/patchgate
USER 10001:10001
EXPOSE 8080
# patchgate runs as PID 1 and handles SIGTERM itself: it stops taking requests and jobs and
# finishes or releases what it holds (docs/operations.md, "Graceful shutdown").
STOPSIGNAL SIGTERM
ENTRYPOINT ["patchgate"]
CMD ["serve"]
