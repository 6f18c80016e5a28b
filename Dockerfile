# SharedLB: one static binary on a slim base, run as a non-root user.
#   docker build -t sharedlb .
# CI runs the same build command (`make release-static`), so this file cannot rot silently.

FROM swift:6.3-noble AS build
WORKDIR /src
COPY Package.swift ./
RUN swift package resolve
COPY Sources ./Sources
COPY Tests ./Tests
COPY scripts/release-build.sh ./scripts/
RUN scripts/release-build.sh \
 && cp "$(scripts/release-build.sh --show-bin-path)/sharedlb" /sharedlb \
 && strip /sharedlb

FROM ubuntu:noble
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates zlib1g \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /sharedlb /usr/local/bin/sharedlb
# The distroless "nonroot" uid; the manifests run as it too.
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/sharedlb"]
CMD ["--help"]
