# slotway as a small runtime image; used by cluster-testbed/docker-compose.yml.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
# Cache mounts keep the registry and target dir across builds; the binary is
# copied out because the target cache is not part of the image layer.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --bin slotway && cp target/release/slotway /usr/local/bin/slotway

FROM debian:bookworm-slim
COPY --from=build /usr/local/bin/slotway /usr/local/bin/slotway
# slotway needs no privileges: it only listens on an unprivileged port.
USER nobody
EXPOSE 6380
ENTRYPOINT ["/usr/local/bin/slotway"]
CMD ["--listen", "0.0.0.0:6380", "--cluster", "127.0.0.1:7000"]
