# Ferry's image: `ferry` (step Jobs, the file mover, every command) and
# `ferry-controller` (the same controller code without the data plane, which
# the Deployment runs), plus the MariaDB client the MySQL steps drive.
# Multi-stage: build with the Swift toolchain, run on a slim Debian. Docker is
# not available on the project's build machines: there `make image`
# (scripts/build-image.sh: mmdebstrap and buildah) builds the same image, and
# Tests/FerryOperatorTests/ImageDefinitionTests.swift checks that both files say the
# same packages, trimming, user, entrypoint, command and binaries.
#
# Both are linked statically (Swift runtime and Foundation), -Osize, and not
# position-independent, as Go builds Kubernetes controllers by default: a
# PIE this size carries ~110,000 relocations that the loader writes into
# private pages at every start (~2.7 MiB of RSS for the life of the process).
# They are stripped (-s): symbols would double their size.
FROM swift:6.3-bookworm AS build
WORKDIR /src
COPY Package.swift ./
COPY Sources ./Sources
COPY Tests/TestSupport ./Tests/TestSupport
COPY Benchmarks ./Benchmarks
RUN swift build -c release --product ferry --static-swift-stdlib -Xswiftc -Osize -Xlinker -no-pie -Xlinker -s \
 && swift build -c release --product ferry-controller --static-swift-stdlib -Xswiftc -Osize -Xlinker -no-pie -Xlinker -s \
 && install -D .build/release/ferry /out/ferry \
 && install -D .build/release/ferry-controller /out/ferry-controller

FROM debian:bookworm-slim
COPY image/trim.sh /usr/local/lib/ferry-trim.sh
RUN apt-get update \
 && apt-get install -y --no-install-recommends mariadb-client zstd ca-certificates tzdata \
 && sh /usr/local/lib/ferry-trim.sh / \
 && rm /usr/local/lib/ferry-trim.sh
COPY --from=build /out/ferry /out/ferry-controller /usr/local/bin/
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/ferry"]
CMD ["controller"]
