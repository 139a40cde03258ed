# The README's two commands are `make demo` and `make test`; both set up what is missing first.
.PHONY: setup build test lint demo bench clean
SHELL := /bin/bash

setup:
	@scripts/setup.sh

build: setup

test: setup
	@scripts/run_tests.sh -q

demo: setup
	@scripts/demo.sh $(ARGS)

lint: setup
	@scripts/lint.sh

bench: setup
	@scripts/bench.sh $(ARGS)

clean:
	rm -rf build install log
