# Multi-stage build of the `anonlink` binary (API, workers and CLI in one).
#   docker build -t anonlink .
#   docker run -p 8851:8851 anonlink serve --bind 0.0.0.0:8851 --data-dir /data
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p anonlink-cli && strip target/release/anonlink

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home /data anonlink && mkdir /data && chown anonlink /data
COPY --from=build /src/target/release/anonlink /usr/local/bin/anonlink
USER anonlink
VOLUME /data
EXPOSE 8851
ENTRYPOINT ["anonlink"]
CMD ["serve", "--bind", "0.0.0.0:8851", "--data-dir", "/data"]
