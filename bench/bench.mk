# The link-emulation benchmarks' own programs.  bench/run.sh runs
#
#   make -f bench/bench.mk BUILD=<build dir>
#
# from the top of the tree before it measures.  This fragment reads the
# project's Makefile for its compiler flags, its libraries and the rule for
# $(BUILD)/libcrystal.a, so the programs always link against a library
# built from the same headers they are compiled with.
#
#   fidelity      in-process rate and delay fidelity, measured at the
#                 receivers (links against libcrystal.a, like
#                 tests/test-shaper.c)
#   kshape        goodput and delay through the kernel's shaper (tbf, htb,
#                 netem) between two network namespaces
#   paced_relay   the CPU floor of paced relaying, one frame per system call
#   tracker       the time the tracker takes to answer N REGISTERs, N from
#                 1,000 to 65,535 (links against libcrystal.a)
#   work          a worker's timers with lengthy jobs run inline or on the
#                 thread pool (cr_work_submit; links against libcrystal.a)
#   hostile       hostile connections for bench/hostile.sh and bench/soak.sh
#                 (speaks the wire format by hand: it measures any build)
#   coding        network coding throughput (encode, decode, recode) beside
#                 ISA-L's own encoder (links against libcrystal.a)

.DEFAULT_GOAL := bench-programs

include Makefile

.PHONY: bench-programs
bench-programs: $(BUILD)/bench/fidelity $(BUILD)/bench/kshape $(BUILD)/bench/paced_relay \
	$(BUILD)/bench/tracker $(BUILD)/bench/coding $(BUILD)/bench/work

$(BUILD)/bench/fidelity: bench/fidelity.c $(BUILD)/libcrystal.a $(wildcard src/*.h src/*/*.h include/crystal/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ bench/fidelity.c $(BUILD)/libcrystal.a $(ALL_LDFLAGS) $(LDLIBS)

$(BUILD)/bench/tracker: bench/tracker.c $(BUILTINS) $(BUILD)/libcrystal.a $(wildcard src/*.h src/*/*.h include/crystal/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ bench/tracker.c $(BUILTINS) $(BUILD)/libcrystal.a $(ALL_LDFLAGS) $(LDLIBS)

$(BUILD)/bench/coding: bench/coding.c $(BUILD)/libcrystal.a $(wildcard src/*.h src/*/*.h include/crystal/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ bench/coding.c $(BUILD)/libcrystal.a $(ALL_LDFLAGS) $(LDLIBS)

$(BUILD)/bench/work: bench/work.c $(BUILD)/libcrystal.a $(wildcard src/*.h src/*/*.h include/crystal/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ bench/work.c $(BUILD)/libcrystal.a $(ALL_LDFLAGS) $(LDLIBS)

$(BUILD)/bench/kshape: bench/kshape.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu17 $(WARN) -O2 -g -D_GNU_SOURCE -o $@ bench/kshape.c -lm

$(BUILD)/bench/hostile: bench/hostile.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu17 $(WARN) -O2 -g -D_GNU_SOURCE -o $@ bench/hostile.c

$(BUILD)/bench/paced_relay: bench/paced_relay.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu17 $(WARN) -O2 -g -D_GNU_SOURCE -pthread -o $@ bench/paced_relay.c
