# Ferry — the two commands a new user runs:
#   make sandbox   try it: a Kubernetes-API-compatible server for kubectl, no cluster needed
#   make test      run every test (what CI runs)
#   make demo      the whole migration on this machine: source servers, export, KubeSim, restore, checks
SHELL := /bin/bash
export PATH := /opt/swift/usr/bin:$(CURDIR)/.tools/bin:$(PATH)

.PHONY: build test sandbox demo bench release clean tools

build:
	swift build

tools:
	@scripts/install-tools.sh kubectl helm >/dev/null
	@scripts/install-kafka-tools.sh

test: tools
	swift build --build-tests
	scripts/with-test-servers.sh timeout --kill-after=30s 40m swift test --skip-build

release:
	swift build -c release --product ferry

demo:
	scripts/demo.sh

sandbox: release
	@mkdir -p .sandbox
	.build/release/ferry sandbox api --data-dir .sandbox

bench: tools
	swift build -c release --product ferry
	swift build -c release --product kube-bench
	swift build -c release --product controller-bench
	swift build -c release --product ferry --static-swift-stdlib -Xswiftc -Osize --scratch-path .build-static
	.build/release/kube-bench
	@echo "--- controller, dynamically linked (as built here)"
	.build/release/controller-bench
	@echo "--- controller, static Swift runtime and -Osize (as the Dockerfile builds it)"
	FERRY_BIN=.build-static/release/ferry .build/release/controller-bench

clean:
	rm -rf .build .tools .sandbox
