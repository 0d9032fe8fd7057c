# dualkey — build, test and demo.
# Newcomer set-up on a fresh Debian machine: `make demo`, then `make test`.

GO        ?= go
BIN       := $(CURDIR)/bin
RIE_PIN   := github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie@v0.0.0-20261030222936-bef5c4ba774d
RIE       := $(BIN)/aws-lambda-rie
FUNCTIONS := $(notdir $(wildcard functions/*))
ARCHES    := arm64 amd64
LDFLAGS   := -s -w
BUILD     ?= build
GOBUILD   := CGO_ENABLED=0 GOOS=linux $(GO) build -tags lambda.norpc -trimpath -ldflags="$(LDFLAGS)"

export DUALKEY_RIE := $(RIE)

.PHONY: all build tools test demo vet bench clean

all: build

## tools: install the pinned test tools into ./bin (the Lambda Runtime Interface Emulator)
tools: $(RIE)

$(RIE):
	GOBIN=$(BIN) $(GO) install $(RIE_PIN)

## build: static bootstrap binaries for every function, linux/arm64 and linux/amd64, in $(BUILD)/<fn>/<arch>/
build: $(addprefix build-fn-,$(FUNCTIONS))

build-fn-%:
	@for arch in $(ARCHES); do \
		echo "build functions/$* ($$arch)"; \
		GOARCH=$$arch $(GOBUILD) -o $(BUILD)/$*/$$arch/bootstrap ./functions/$* || exit 1; \
	done

## SAM (BuildMethod: makefile) calls build-<LogicalId> with ARTIFACTS_DIR set.
build-ServiceKeyFunction:
	GOARCH=arm64 $(GOBUILD) -o $(ARTIFACTS_DIR)/bootstrap ./functions/servicekey
build-IAMKeyFunction:
	GOARCH=arm64 $(GOBUILD) -o $(ARTIFACTS_DIR)/bootstrap ./functions/iamkey
build-RetireFunction:
	GOARCH=arm64 $(GOBUILD) -o $(ARTIFACTS_DIR)/bootstrap ./functions/retire
build-RollbackFunction:
	GOARCH=arm64 $(GOBUILD) -o $(ARTIFACTS_DIR)/bootstrap ./functions/rollback

## vet: formatting and go vet
vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))" || { gofmt -l .; echo "gofmt: files above need formatting"; exit 1; }
	$(GO) vet ./...

## test: everything, against real servers (emulator, Lambda RIE, databases)
test: tools vet
	$(GO) test -count=1 -timeout 20m ./...

## demo: a real rotation end to end on local emulators, no AWS account
demo: tools
	$(GO) run ./cmd/dualkey demo --rie $(RIE)

## bench: the measurements recorded in docs/benchmarks.md
bench: tools
	./bench/run.sh

clean:
	rm -rf build bin .aws-sam
