# Ferry's image: the ferry binary (controller, step jobs, file mover) and the
# MariaDB client the MySQL steps drive. Multi-stage: build with the Swift
# toolchain, run on a slim Debian. (Docker is not available on the project's
# build machines, so this file is checked by review, not by CI.)
FROM swift:6.3-bookworm AS build
WORKDIR /src
COPY Package.swift ./
COPY Sources ./Sources
COPY Tests/TestSupport ./Tests/TestSupport
COPY Benchmarks ./Benchmarks
RUN swift build -c release --product ferry --static-swift-stdlib -Xswiftc -Osize \
 && install -D .build/release/ferry /out/ferry

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends mariadb-client ca-certificates tzdata \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/ferry /usr/local/bin/ferry
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/ferry"]
CMD ["controller"]
