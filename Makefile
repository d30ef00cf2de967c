# statelite: `make run` serves a demo cluster on loopback; `make test` runs every test.
GO      ?= go
BIN     := bin/statelite
DEMO    ?= demo

.PHONY: build run test vet bench clean

build:
	$(GO) build -o $(BIN) ./cmd/statelite

run: build
	./$(BIN) demo --dir $(DEMO)

vet:
	gofmt -l . | tee /dev/stderr | (! read _)
	$(GO) vet ./...

test: vet
	$(GO) test -race -count=1 ./...

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./tables ./resolver

clean:
	rm -rf bin $(DEMO)
