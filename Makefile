# Crystal: build, test, benchmark.
#
#   make deps     install the Debian packages the project needs
#   make          build build/crystal, build/libcrystal.{a,so}
#   make check    build and run the whole test suite
#   make demo     run the default experiment
#   make bench    run the benchmarks (tables on stdout, CSV in bench/results/)
#   make fresh-check  run the README's quick start, each command in a fresh
#                 minbase Debian 12 root (as root; the committed tree)
#
#   make fuzz     build the fuzz targets of fuzz/ with clang and libFuzzer (in
#                 build-fuzz/) and run each for FUZZ_SECONDS (default 60)
#   make fuzz-smoke  the same, each briefly (about a minute in all)
#
#   make CC=clang           build with clang
#   make check SANITIZE=1   the suite under AddressSanitizer + UBSan (in build-san/)
#   make check TSAN=1       the threaded tests under ThreadSanitizer, with clang
#                 (in build-tsan/; TSAN_TESTS names them); ASan and TSan
#                 cannot be combined

CC ?= cc
SANITIZE ?=
TSAN ?=
ifneq ($(TSAN),)
ifneq ($(SANITIZE),)
$(error TSAN=1 and SANITIZE=1 cannot be combined: ThreadSanitizer and AddressSanitizer exclude each other)
endif
# ThreadSanitizer as clang has it (gcc's needs its own libtsan installed)
ifeq ($(origin CC),default)
CC := clang
endif
endif
BUILD ?= $(if $(TSAN),build-tsan,$(if $(SANITIZE),build-san,build))

# pkg-config is asked when a recipe first needs the answer, not when this
# file is read: on a fresh machine `make deps demo` reads the Makefile before
# `deps` has installed pkg-config and the libraries.  Each is asked once.
PKGS := libuv inih gsl jansson libisal
PKG_FALLBACK_LIBS := -luv -linih -lgsl -lgslcblas -ljansson -lisal
PKG_CFLAGS = $(eval PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null))$(PKG_CFLAGS)
PKG_LIBS = $(eval PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null || echo $(PKG_FALLBACK_LIBS)))$(PKG_LIBS)

OPT ?= -O2
CFLAGS ?= $(OPT) -g
WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wno-unused-parameter
SAN_ON := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined \
          $(if $(FUZZ),-fsanitize=fuzzer-no-link)
TSAN_ON := -fsanitize=thread -fno-omit-frame-pointer
SANFLAGS := $(if $(SANITIZE),$(SAN_ON))$(if $(TSAN),$(TSAN_ON))
ALL_CFLAGS = -std=gnu17 $(WARN) $(CFLAGS) $(SANFLAGS) -fPIC -Iinclude -Isrc $(PKG_CFLAGS) -D_GNU_SOURCE
LDLIBS = $(PKG_LIBS) -lpthread -ldl -lm
ALL_LDFLAGS := $(LDFLAGS) $(SANFLAGS)

LIB_SRC := $(wildcard src/core/*.c src/net/*.c src/engine/*.c src/scenario/*.c src/metrics/*.c src/stream/*.c)
# The built-in algorithms and the registry that names them: beside the
# command line, not in libcrystal (which runs whatever algorithm it is given).
BUILTIN_SRC := $(wildcard src/builtins/*.c algorithms/*.c)
CLI_SRC := $(wildcard src/cli/*.c)
TEST_SRC := $(wildcard tests/test-*.c)
TEST_SUPPORT := $(filter-out $(TEST_SRC),$(wildcard tests/*.c))

LIB_OBJ := $(patsubst %.c,$(BUILD)/obj/%.o,$(LIB_SRC))
BUILTIN_OBJ := $(patsubst %.c,$(BUILD)/obj/%.o,$(BUILTIN_SRC))
BUILTINS := $(BUILD)/libcrystal-builtins.a
CLI_OBJ := $(patsubst %.c,$(BUILD)/obj/%.o,$(CLI_SRC))
TEST_SUPPORT_OBJ := $(patsubst %.c,$(BUILD)/obj/%.o,$(TEST_SUPPORT))
TEST_BIN := $(patsubst tests/%.c,$(BUILD)/tests/%,$(TEST_SRC))
# The tests ThreadSanitizer runs: work on the pool and the sync wrappers,
# and the programs that run nodes of several workers (docs/testing.md says
# which are left out, and why).
TSAN_TESTS ?= test-work test-relay test-frames test-churn test-source test-mesh \
	test-counters test-stream test-playout test-timers test-conn test-hostile \
	test-vanilla test-blocks test-coding test-coding-window test-random
CHECK_BIN := $(if $(TSAN),$(patsubst %,$(BUILD)/tests/%,$(TSAN_TESTS)),$(TEST_BIN))
DEPS := $(LIB_OBJ:.o=.d) $(BUILTIN_OBJ:.o=.d) $(CLI_OBJ:.o=.d) $(TEST_SUPPORT_OBJ:.o=.d)

FUZZ_SRC := $(wildcard fuzz/fuzz-*.c)
FUZZ_NAMES := $(patsubst fuzz/fuzz-%.c,%,$(FUZZ_SRC))
FUZZ_BIN := $(patsubst %,$(BUILD)/fuzz/fuzz-%,$(FUZZ_NAMES))
FUZZ_SUPPORT_OBJ := $(BUILD)/obj/fuzz/fuzz.o
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 60
FUZZ_SMOKE_SECONDS ?= 8
DEPS += $(FUZZ_SUPPORT_OBJ:.o=.d)

.PHONY: all deps check demo bench clean format test-bins examples fresh-check \
	fuzz fuzz-smoke fuzz-bins

all: $(BUILD)/crystal $(BUILD)/libcrystal.a $(BUILD)/libcrystal.so examples

deps:
	@sh scripts/deps.sh

# With `deps` among the goals, nothing is built before it has run, even
# under -j.
AFTER_DEPS := $(if $(filter deps,$(MAKECMDGOALS)),deps)

$(BUILD)/obj/%.o: %.c | $(AFTER_DEPS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/libcrystal.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILTINS): $(BUILTIN_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/libcrystal.so: $(LIB_OBJ)
	$(CC) -shared $(ALL_LDFLAGS) -o $@ $^ $(LDLIBS)

# -rdynamic: an algorithm loaded with --algorithm x.so finds the API here.
$(BUILD)/crystal: $(CLI_OBJ) $(BUILTINS) $(BUILD)/libcrystal.a
	$(CC) $(ALL_LDFLAGS) -rdynamic -o $@ $(CLI_OBJ) $(BUILTINS) -Wl,--whole-archive $(BUILD)/libcrystal.a -Wl,--no-whole-archive $(LDLIBS)

# The example third-party algorithm, built exactly as docs/writing-an-algorithm.md says.
examples: $(BUILD)/examples/pingpong.so
$(BUILD)/examples/pingpong.so: examples/pingpong/pingpong.c $(wildcard include/crystal/*.h) | $(AFTER_DEPS)
	@mkdir -p $(dir $@)
	$(CC) -std=gnu17 $(WARN) $(CFLAGS) $(SANFLAGS) -shared -fPIC -Iinclude -o $@ $<

$(BUILD)/tests/%: tests/%.c $(TEST_SUPPORT_OBJ) $(BUILTINS) $(BUILD)/libcrystal.a | $(AFTER_DEPS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -rdynamic -o $@ $< $(TEST_SUPPORT_OBJ) $(BUILTINS) -Wl,--whole-archive $(BUILD)/libcrystal.a -Wl,--no-whole-archive $(ALL_LDFLAGS) -lcmocka $(LDLIBS)

test-bins: $(CHECK_BIN) $(BUILD)/crystal examples

# The tree's shape first (scripts/shape-check.sh: file and function lengths,
# includes and calls only down the layers), then every test program (under
# TSAN=1, those of TSAN_TESTS; a race reported fails the program).
check: test-bins
	@BUILD=$(BUILD) sh scripts/shape-check.sh
	@BUILD=$(BUILD) $(if $(SANITIZE),CRYSTAL_SANITIZE=1) \
		$(if $(TSAN),TSAN_OPTIONS="halt_on_error=1 exitcode=66 $(TSAN_OPTIONS)") \
		sh tests/run.sh $(CHECK_BIN)

# The fuzz targets: libFuzzer, ASan and UBSan, with clang, in their own
# build directory (docs/testing.md).  report's readers are in the CLI's
# objects, main.o left out (libFuzzer has the main).
$(BUILD)/libcrystal-cli.a: $(filter-out %/main.o,$(CLI_OBJ))
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/fuzz/fuzz-%: fuzz/fuzz-%.c fuzz/fuzz.h $(FUZZ_SUPPORT_OBJ) $(BUILD)/libcrystal-cli.a $(BUILTINS) $(BUILD)/libcrystal.a | $(AFTER_DEPS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_SUPPORT_OBJ) $(BUILD)/libcrystal-cli.a $(BUILTINS) $(BUILD)/libcrystal.a $(ALL_LDFLAGS) $(LDLIBS)

fuzz-bins: $(FUZZ_BIN)
.SECONDARY: $(FUZZ_SUPPORT_OBJ)

fuzz: | $(AFTER_DEPS)
	@$(MAKE) --no-print-directory CC=clang SANITIZE=1 FUZZ=1 BUILD=$(FUZZ_BUILD) fuzz-bins
	@FUZZ_SECONDS=$(FUZZ_SECONDS) sh fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_NAMES)

fuzz-smoke:
	@$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=$(FUZZ_SMOKE_SECONDS)

demo: $(BUILD)/crystal
	$(BUILD)/crystal run --out runs/demo

$(BUILD)/bench/raw_relay: bench/raw_relay.c | $(AFTER_DEPS)
	@mkdir -p $(dir $@)
	$(CC) -std=gnu17 $(WARN) -O2 -pthread -o $@ $<

bench: $(BUILD)/crystal $(BUILD)/bench/raw_relay
	@BUILD=$(BUILD) sh bench/run.sh

fresh-check:
	@sh scripts/fresh-check.sh

format:
	clang-format -i $(LIB_SRC) $(BUILTIN_SRC) $(CLI_SRC) $(TEST_SRC) $(TEST_SUPPORT) $(FUZZ_SRC) fuzz/fuzz.c fuzz/fuzz.h src/*.h src/*/*.h include/crystal/*.h

clean:
	rm -rf build build-san build-fuzz build-tsan

-include $(DEPS)
