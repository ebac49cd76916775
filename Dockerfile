# Ferry's image: `ferry` (step Jobs, the file mover, every command) and
# `ferry-controller`, a link to it that the Deployment runs (called by that
# name, ferry is `ferry controller`), plus the MariaDB client the MySQL steps
# drive. One binary: each static Swift binary carries its own Foundation and
# ICU (~40 MB).
# Multi-stage: build with the Swift toolchain, run on a slim Debian. Docker is
# not available on the project's build machines: there `make image`
# (scripts/build-image.sh: mmdebstrap and buildah) builds the same image, and
# Tests/FerryOperatorTests/ImageDefinitionTests.swift checks that both files say the
# same packages, trimming, user, entrypoint, command and binaries.
#
# It is linked statically (Swift runtime and Foundation), -Osize, and not
# position-independent, as Go builds Kubernetes controllers by default: a
# PIE this size carries ~110,000 relocations that the loader writes into
# private pages at every start (~2.7 MiB of RSS for the life of the process).
# It is stripped (-s): symbols would double its size.
FROM swift:6.3-bookworm AS build
WORKDIR /src
COPY Package.swift ./
COPY Sources ./Sources
COPY Tests/TestSupport ./Tests/TestSupport
COPY Benchmarks ./Benchmarks
RUN swift build -c release --product ferry --static-swift-stdlib -Xswiftc -Osize -Xlinker -no-pie -Xlinker -s \
 && install -D .build/release/ferry /out/ferry

FROM debian:bookworm-slim
COPY image/trim.sh /usr/local/lib/ferry-trim.sh
RUN apt-get update \
 && apt-get install -y --no-install-recommends mariadb-client zstd ca-certificates tzdata \
 && sh /usr/local/lib/ferry-trim.sh / \
 && rm /usr/local/lib/ferry-trim.sh
COPY --from=build /out/ferry /usr/local/bin/
RUN ln -s ferry /usr/local/bin/ferry-controller
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/ferry"]
CMD ["controller"]
