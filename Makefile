# Ferry — the two commands a new user runs:
#   make sandbox   try it: a Kubernetes-API-compatible server for kubectl, no cluster needed
#   make test      run every test (what CI runs)
#   make demo      the whole migration on this machine: source servers, export, KubeSim, restore, checks
SHELL := /bin/bash
export PATH := /opt/swift/usr/bin:$(CURDIR)/.tools/bin:$(PATH)

.PHONY: build test sandbox demo bench release image clean tools

build:
	swift build

tools:
	@scripts/install-tools.sh kubectl helm >/dev/null
	@scripts/install-kafka-tools.sh
	@scripts/install-s3-tools.sh

test: tools
	swift build --build-tests
	scripts/with-test-servers.sh timeout --kill-after=30s 40m swift test --skip-build

release:
	swift build -c release --product ferry

# The runtime image (static binaries, mmdebstrap root filesystem, buildah): local containers
# storage and .build/image/ferry.oci.tar. Needs root, buildah and mmdebstrap.
image:
	scripts/build-image.sh

demo:
	scripts/demo.sh

sandbox: release
	@mkdir -p .sandbox
	.build/release/ferry sandbox api --data-dir .sandbox

bench: tools
	swift build -c release --product ferry
	swift build -c release --product kube-bench
	swift build -c release --product controller-bench
	swift build -c release --product ferry --static-swift-stdlib -Xswiftc -Osize -Xlinker -no-pie -Xlinker -s --scratch-path .build-static
	ln -sf ferry .build-static/release/ferry-controller
	.build/release/kube-bench
	@echo "--- ferry controller, dynamically linked (as built here)"
	.build/release/controller-bench
	@echo "--- ferry-controller: the static, -Osize, non-PIE ferry called by that name (as the image holds it; what the Deployment runs)"
	FERRY_BIN=.build-static/release/ferry-controller .build/release/controller-bench
	@echo "--- the same with 5,000 unrelated pods in the cluster (only ferry.dev/migration pods are cached)"
	FERRY_BIN=.build-static/release/ferry-controller UNRELATED_PODS=5000 .build/release/controller-bench

clean:
	rm -rf .build .tools .sandbox
