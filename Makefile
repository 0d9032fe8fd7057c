# dualkey — build, test and demo.
# Newcomer set-up on a fresh Debian machine: `make demo`, then `make test`.

GO        ?= go
BIN       := $(CURDIR)/bin
RIE_PIN   := github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie@v0.0.0-20261030222936-bef5c4ba774d
RIE       := $(BIN)/aws-lambda-rie
STRIPE_MOCK_PIN := github.com/stripe/stripe-mock@v0.203.0
STRIPE_MOCK     := $(BIN)/stripe-mock
PRISM     := internal/prism/node_modules/.bin/prism
FUNCTIONS := $(notdir $(wildcard functions/*))
ARCHES    := arm64 amd64
LDFLAGS   := -s -w
BUILD     ?= build
GOBUILD   := CGO_ENABLED=0 GOOS=linux $(GO) build -tags lambda.norpc -trimpath -ldflags="$(LDFLAGS)"
FUZZTIME  ?= 30s
## DB_CA_BUNDLE: a PEM file of CA certificates (for Amazon RDS the global bundle,
## https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem) packaged as
## db-ca-bundle.pem with the functions that log in to databases (postgres, mysql, retire,
## rollback); the template's DatabaseCABundle parameter names it. Empty: none packaged.
DB_CA_BUNDLE ?=
DB_CA_FUNCTIONS := postgres mysql retire rollback
SHELL     := /bin/bash

export DUALKEY_RIE := $(RIE)
export DUALKEY_STRIPE_MOCK := $(STRIPE_MOCK)

.PHONY: all build tools dbtools test demo vet bench fuzz lint-template invoke serve clean

all: build

## tools: the pinned test tools: the Lambda Runtime Interface Emulator and stripe-mock
## (./bin), Stoplight Prism (internal/prism/node_modules), PostgreSQL and MariaDB (apt)
tools: $(RIE) $(STRIPE_MOCK) $(PRISM) dbtools

$(RIE):
	GOBIN=$(BIN) $(GO) install $(RIE_PIN)

$(STRIPE_MOCK):
	GOBIN=$(BIN) $(GO) install $(STRIPE_MOCK_PIN)

$(PRISM): internal/prism/package.json internal/prism/package-lock.json
	npm ci --prefix internal/prism --no-audit --no-fund
	@touch $@

dbtools:
	internal/dbtest/install-packages.sh

## build: static bootstrap binaries for every function, linux/arm64 and linux/amd64, in $(BUILD)/<fn>/<arch>/
## (with DB_CA_BUNDLE=file, also db-ca-bundle.pem beside the database functions' bootstraps)
build: $(addprefix build-fn-,$(FUNCTIONS))

build-fn-%:
	@for arch in $(ARCHES); do \
		echo "build functions/$* ($$arch)"; \
		GOARCH=$$arch $(GOBUILD) -o $(BUILD)/$*/$$arch/bootstrap ./functions/$* || exit 1; \
		if [ -n "$(DB_CA_BUNDLE)" ] && [ -n "$(filter $*,$(DB_CA_FUNCTIONS))" ]; then \
			cp "$(DB_CA_BUNDLE)" $(BUILD)/$*/$$arch/db-ca-bundle.pem || exit 1; \
		fi; \
	done

# copy-db-ca packages DB_CA_BUNDLE with a function built by sam build
# (DB_CA_BUNDLE=/abs/path/global-bundle.pem sam build --no-cached): sam build runs make
# in a copy of the source, and its cache does not see a changed DB_CA_BUNDLE.
define copy-db-ca
	@if [ -n "$(DB_CA_BUNDLE)" ]; then cp "$(DB_CA_BUNDLE)" $(ARTIFACTS_DIR)/db-ca-bundle.pem || \
		{ echo "DB_CA_BUNDLE=$(DB_CA_BUNDLE): cannot copy it into the package (sam build runs make in a copy of the source: give an absolute path)" >&2; exit 1; }; fi
endef

## SAM (BuildMethod: makefile) calls build-<LogicalId> with ARTIFACTS_DIR set.
build-ServiceKeyFunction:
	GOARCH=arm64 $(GOBUILD) -o $(ARTIFACTS_DIR)/bootstrap ./functions/servicekey
build-IAMKeyFunction:
	GOARCH=arm64 $(GOBUILD) -o $(ARTIFACTS_DIR)/bootstrap ./functions/iamkey
build-StripeFunction:
	GOARCH=arm64 $(GOBUILD) -o $(ARTIFACTS_DIR)/bootstrap ./functions/stripe
build-StripeWebhookFunction:
	GOARCH=arm64 $(GOBUILD) -o $(ARTIFACTS_DIR)/bootstrap ./functions/stripewebhook
build-StagedFunction:
	GOARCH=arm64 $(GOBUILD) -o $(ARTIFACTS_DIR)/bootstrap ./functions/staged
build-PostgresFunction:
	GOARCH=arm64 $(GOBUILD) -o $(ARTIFACTS_DIR)/bootstrap ./functions/postgres
	$(copy-db-ca)
build-MySQLFunction:
	GOARCH=arm64 $(GOBUILD) -o $(ARTIFACTS_DIR)/bootstrap ./functions/mysql
	$(copy-db-ca)
build-TwilioFunction:
	GOARCH=arm64 $(GOBUILD) -o $(ARTIFACTS_DIR)/bootstrap ./functions/twilio
build-TwilioTokenFunction:
	GOARCH=arm64 $(GOBUILD) -o $(ARTIFACTS_DIR)/bootstrap ./functions/twiliotoken
build-SendGridFunction:
	GOARCH=arm64 $(GOBUILD) -o $(ARTIFACTS_DIR)/bootstrap ./functions/sendgrid
build-RetireFunction:
	GOARCH=arm64 $(GOBUILD) -o $(ARTIFACTS_DIR)/bootstrap ./functions/retire
	$(copy-db-ca)
build-RollbackFunction:
	GOARCH=arm64 $(GOBUILD) -o $(ARTIFACTS_DIR)/bootstrap ./functions/rollback
	$(copy-db-ca)

## vet: formatting and go vet
vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))" || { gofmt -l .; echo "gofmt: files above need formatting"; exit 1; }
	$(GO) vet ./...

## test: everything, against real servers (emulator, Lambda RIE, stripe-mock, Prism, databases);
## the template is checked with AWS's cfn-lint and SAM transform (root package tests); fuzz
## targets run their seed corpora
test: tools vet
	$(GO) test -count=1 -timeout 25m ./...

## lint-template: AWS's cfn-lint on template.yaml and the example stacks, informational findings included
lint-template:
	cfn-lint --non-zero-exit-code informational -c I -- template.yaml examples/*.yaml

## fuzz: every Fuzz* target in the repository (found with go test -list) for FUZZTIME each (default 30s)
fuzz:
	@set -eo pipefail; list=$$(mktemp); trap 'rm -f $$list' EXIT; \
	$(GO) test -list '^Fuzz' ./... | awk '/^Fuzz/ { names = names " " $$1; next } \
		/^ok / { n = split(names, f, " "); for (i = 1; i <= n; i++) print $$2, f[i]; names = ""; next } \
		/^FAIL/ { print "fuzz: " $$0 > "/dev/stderr"; bad = 1 } END { exit bad }' >$$list; \
	test -s $$list || { echo "fuzz: no Fuzz targets found" >&2; exit 1; }; \
	while read -r pkg target; do \
		echo "fuzz $$pkg $$target for $(FUZZTIME)"; \
		$(GO) test -run '^$$' -fuzz "^$$target$$" -fuzztime $(FUZZTIME) $$pkg </dev/null; \
	done <$$list

## invoke: one event through a function's real bootstrap under the Lambda RIE, against a running
## emulator (no Docker): make invoke FN=iamkey EVENT=events/iamkey-createSecret.json
##   [SECRET=arn-or-name] replaces the event's SecretId; [EMULATOR=http://127.0.0.1:4566];
##   [VARS='DUALKEY_DRAIN=0s ...'] adds to the function's environment;
##   [INVOKE_PORT=9301] the RIE's port, [INVOKE_API_PORT=INVOKE_PORT+1] its runtime API's
EMULATOR    ?= http://127.0.0.1:4566
INVOKE_PORT ?= 9301
INVOKE_API_PORT ?= $(shell echo $$(($(INVOKE_PORT) + 1)))
EMULATOR_KEY_ID     ?= AKIADUALKEYBOOTSTRAP
EMULATOR_KEY_SECRET ?= dualkey-bootstrap-secret-key
EMULATOR_REGION     ?= us-east-1
INVOKE_ENV = AWS_ENDPOINT_URL=$(EMULATOR) AWS_ACCESS_KEY_ID=$(EMULATOR_KEY_ID) \
	AWS_SECRET_ACCESS_KEY=$(EMULATOR_KEY_SECRET) AWS_REGION=$(EMULATOR_REGION) $(VARS)

invoke: $(RIE)
	@test -n "$(FN)" -a -n "$(EVENT)" || { echo "usage: make invoke FN=<$(FUNCTIONS)> EVENT=events/<file>.json [SECRET=...] [EMULATOR=$(EMULATOR)] [VARS='K=V ...']" >&2; exit 2; }
	@test -f functions/$(FN)/main.go || { echo "make invoke: no function FN=$(FN); functions: $(FUNCTIONS)" >&2; exit 2; }
	@test -f "$(EVENT)" || { echo "make invoke: no event file EVENT=$(EVENT); see events/" >&2; exit 2; }
	@curl -s -o /dev/null "$(EMULATOR)/_dualkey/health" || { echo "make invoke: no emulator at EMULATOR=$(EMULATOR): start one with 'go run ./cmd/dualkey emulator' (docs/deploy.md)" >&2; exit 2; }
	@CGO_ENABLED=0 GOOS=linux $(GO) build -tags lambda.norpc -trimpath -o $(BUILD)/invoke/$(FN)/bootstrap ./functions/$(FN)
	@set -u; dir=$(BUILD)/invoke/$(FN); event=$$dir/event.json; log=$$dir/function.log; \
	if [ -n "$(SECRET)" ]; then sed -E 's#("SecretId"[[:space:]]*:[[:space:]]*)"[^"]*"#\1"$(SECRET)"#' "$(EVENT)" >$$event; else cp "$(EVENT)" $$event; fi; \
	env -u AWS_PROFILE -u AWS_SESSION_TOKEN $(INVOKE_ENV) $(RIE) \
		--runtime-interface-emulator-address 127.0.0.1:$(INVOKE_PORT) \
		--runtime-api-address 127.0.0.1:$(INVOKE_API_PORT) $$dir/bootstrap >$$log 2>&1 & rie=$$!; \
	trap 'kill $$rie 2>/dev/null; wait $$rie 2>/dev/null' EXIT; \
	for i in $$(seq 100); do curl -s -o /dev/null http://127.0.0.1:$(INVOKE_PORT)/ && break; \
		kill -0 $$rie 2>/dev/null || { cat $$log; echo "make invoke: the RIE exited" >&2; exit 1; }; sleep 0.1; done; \
	result=$$(curl -sS -X POST --data-binary @$$event http://127.0.0.1:$(INVOKE_PORT)/2015-03-31/functions/function/invocations) || exit 1; \
	sleep 0.2; echo "--- log of functions/$(FN) ---"; cat $$log; echo "--- result ---"; echo "$$result"; \
	case "$$result" in *'"errorMessage"'*) exit 1;; esac

## serve: a function's real bootstrap under the RIE in the foreground, for the emulator's
## --lambda NAME=http://127.0.0.1:$(INVOKE_PORT)/2015-03-31/functions/function/invocations
serve: $(RIE)
	@test -f functions/$(FN)/main.go || { echo "usage: make serve FN=<$(FUNCTIONS)> [EMULATOR=$(EMULATOR)] [INVOKE_PORT=$(INVOKE_PORT)]" >&2; exit 2; }
	@CGO_ENABLED=0 GOOS=linux $(GO) build -tags lambda.norpc -trimpath -o $(BUILD)/invoke/$(FN)/bootstrap ./functions/$(FN)
	env -u AWS_PROFILE -u AWS_SESSION_TOKEN $(INVOKE_ENV) $(RIE) \
		--runtime-interface-emulator-address 127.0.0.1:$(INVOKE_PORT) \
		--runtime-api-address 127.0.0.1:$(INVOKE_API_PORT) $(BUILD)/invoke/$(FN)/bootstrap

## demo: a real rotation end to end on local emulators, no AWS account
demo: $(RIE)
	$(GO) run ./cmd/dualkey demo --rie $(RIE)

## bench: the measurements recorded in docs/benchmarks.md
bench: tools
	./bench/run.sh

clean:
	rm -rf build bin .aws-sam internal/prism/node_modules
