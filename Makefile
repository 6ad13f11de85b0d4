# diffgen: the two commands of the quick start, and the rest.
#   make run    set up, build, run the early-stopping experiment (default preset)
#   make test   set up, build, run the whole test suite through ctest
BUILD ?= build
JOBS ?= $(shell nproc)
ARGS ?=

.PHONY: all setup build run test bench test-sanitize fuzz clean

all: build

setup:
	@bash scripts/setup.sh

build: setup
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

run: build
	./$(BUILD)/diffgen run early-stopping $(ARGS)

test: build
	ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS)

bench: build
	@bash bench/run.sh $(BUILD)

# The sanitized suite leaves out the tests labelled slow (tests/CMakeLists.txt:
# every experiment killed and resumed, every experiment swept): they run each
# experiment several times as a separate program, which under the sanitizers
# takes longer than CI allows; the same code runs sanitized in each
# experiment's in-process tests, and the slow tests run in `make test`.
# It is built at -O1 with line tables only (-g1): compiling is most of its
# time, and this cuts it by about a third while keeping file:line in every
# sanitizer report.
test-sanitize: setup
	@cmake -S . -B build-sanitize -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1 -DNDEBUG" -DDIFFGEN_SANITIZE=ON -DDIFFGEN_BENCH=OFF >/dev/null
	@cmake --build build-sanitize -j $(JOBS)
	ctest --test-dir build-sanitize --output-on-failure -j $(JOBS) -LE slow

# libFuzzer on the parsers of user input (configs, CSV and NPY points, IDX
# images), each for FUZZ_SECONDS seconds; installs clang and libFuzzer when
# missing; fails on any crash (fuzz/run.sh).
FUZZ_SECONDS ?= 60
fuzz: setup
	@FUZZ_SECONDS=$(FUZZ_SECONDS) JOBS=$(JOBS) bash fuzz/run.sh

clean:
	rm -rf $(BUILD) build-sanitize build-fuzz
