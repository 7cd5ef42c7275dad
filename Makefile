# kin: build, test, bench, install.
#   make            release build of libkin (static+shared), the kin command, tests
#   make test       installs missing Debian packages, then builds and runs every test,
#                   in a release build and an ASan+UBSan build
#   make demo       installs missing packages, builds, runs examples/
#   make bench      benchmarks, each a ratio against a raw C baseline
#   make install PREFIX=/usr/local [DESTDIR=...]

PREFIX ?= /usr/local
O ?= build/release
SAN ?=

VERSION := 0.1.0
SOMAJOR := 0

CC ?= cc
WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
	-Wformat=2 -Wpointer-arith -Wcast-qual -Wundef -Wvla -Wimplicit-fallthrough
BASE_CFLAGS := -std=c11 -D_GNU_SOURCE -fPIC -pthread -Iinclude $(WARN)
ifeq ($(SAN),1)
  OPT := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
else
  OPT := -O2 -g
endif
ALL_CFLAGS := $(BASE_CFLAGS) $(OPT) $(CFLAGS)
# msgpack-c (libmsgpack-dev) encodes the worker protocol; libseccomp
# (libseccomp-dev) compiles sandbox seccomp profiles to BPF.
LDLIBS := -pthread -lmsgpackc -lseccomp

LIB_SRC := $(sort $(wildcard src/*/*.c))
CLI_SRC := $(sort $(wildcard cli/*.c))
TEST_SRC := $(sort $(wildcard tests/*.c))
BENCH_SRC := $(sort $(wildcard bench/*.c))
EXAMPLE_SRC := $(sort $(wildcard examples/*.c))

LIB_OBJ := $(LIB_SRC:%.c=$(O)/%.o)
CLI_OBJ := $(CLI_SRC:%.c=$(O)/%.o)
TEST_OBJ := $(TEST_SRC:%.c=$(O)/%.o)

STATIC := $(O)/libkin.a
SHARED := $(O)/libkin.so.$(VERSION)
KIN := $(O)/kin
TESTBIN := $(O)/kin-test
BENCHBIN := $(O)/kin-bench
EXAMPLES := $(EXAMPLE_SRC:examples/%.c=$(O)/examples/%)
# Fuzz targets, each also built with a plain driver so `make test` runs them.
FUZZ_SRC := $(sort $(wildcard fuzz/fuzz_*.c))
FUZZERS := $(FUZZ_SRC:fuzz/fuzz_%.c=$(O)/fuzz/%)
# Library sources that make fuzz (libFuzzer) compiles into every target.
FUZZ_LIB_SRC := $(sort src/core/buf.c src/worker/mp.c src/worker/protocol.c \
	src/sandbox/profile.c $(wildcard src/core/*.c src/chan/*.c))
FUZZ_SECONDS ?= 60

.PHONY: all build test test-build demo bench fuzz install uninstall deps clean format
all: build

build: $(STATIC) $(SHARED) $(KIN) $(TESTBIN) $(EXAMPLES) $(BENCHBIN) $(FUZZERS)

$(O)/%.o: %.c include/kin.h $(wildcard src/*/*.h cli/*.h tests/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

# The parser's unit tests compile cli/parse.c into the test binary; the
# sandbox options' tests compile run_options.c and run_sandbox.c.
$(O)/tests/test_cli_parse.o: cli/parse.c
$(O)/tests/test_cli_sandbox.o: cli/run_options.c cli/run_sandbox.c

$(STATIC): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

# Only kin_* is exported; kin__* internals stay private to the library.
$(SHARED): $(LIB_OBJ) src/libkin.map
	$(CC) $(ALL_CFLAGS) -shared -Wl,-soname,libkin.so.$(SOMAJOR) \
		-Wl,--version-script=src/libkin.map -o $@ $(LIB_OBJ) $(LDLIBS)
	ln -sf libkin.so.$(VERSION) $(O)/libkin.so.$(SOMAJOR)
	ln -sf libkin.so.$(SOMAJOR) $(O)/libkin.so

# The release kin command is a static PIE, as tini ships one: no dynamic
# loader runs at each start, which is about 0.4 ms of a sandboxed
# `kin run` (docs/benchmarks.md), and ASLR stays. The sanitizers need the
# dynamic runtime, so a SAN=1 build links as usual.
ifeq ($(SAN),1)
  KIN_LDFLAGS :=
else
  KIN_LDFLAGS := -static-pie
endif
$(KIN): $(CLI_OBJ) $(STATIC)
	$(CC) $(ALL_CFLAGS) $(KIN_LDFLAGS) -o $@ $(CLI_OBJ) $(STATIC) $(LDLIBS)

$(TESTBIN): $(TEST_OBJ) $(STATIC)
	$(CC) $(ALL_CFLAGS) -o $@ $(TEST_OBJ) $(STATIC) $(LDLIBS)

$(BENCHBIN): $(BENCH_SRC) $(STATIC)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $(BENCH_SRC) $(STATIC) $(LDLIBS)

$(O)/examples/%: examples/%.c $(STATIC)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(STATIC) $(LDLIBS)

# The cli_parse target fuzzes cli/parse.c; future targets list their sources here.
$(O)/fuzz/cli_parse: fuzz/fuzz_cli_parse.c fuzz/standalone.c cli/parse.c cli/parse.h
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ fuzz/fuzz_cli_parse.c fuzz/standalone.c cli/parse.c

# The chan_frame target fuzzes the chan decoder (src/chan/) through a real socket.
$(O)/fuzz/chan_frame: fuzz/fuzz_chan_frame.c fuzz/standalone.c $(STATIC)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ fuzz/fuzz_chan_frame.c fuzz/standalone.c $(STATIC) $(LDLIBS)

# The protocol target fuzzes the worker protocol decoder and kin_mp_unpack.
$(O)/fuzz/protocol: fuzz/fuzz_protocol.c fuzz/standalone.c $(STATIC)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ fuzz/fuzz_protocol.c fuzz/standalone.c $(STATIC) $(LDLIBS)

# The seccomp_profile target fuzzes the profile file parser, which needs
# nothing but itself (libseccomp stays out of it).
$(O)/fuzz/seccomp_profile: fuzz/fuzz_seccomp_profile.c fuzz/standalone.c src/sandbox/profile.c \
		src/sandbox/sandbox.h
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ fuzz/fuzz_seccomp_profile.c fuzz/standalone.c src/sandbox/profile.c

# Coverage-guided fuzzing with libFuzzer (clang), FUZZ_SECONDS per target.
fuzz:
	@scripts/deps.sh fuzz
	@mkdir -p build/libfuzzer
	@for t in $(FUZZ_SRC:fuzz/fuzz_%.c=%); do \
		clang -g -O1 -std=c11 -D_GNU_SOURCE -pthread -Iinclude -fsanitize=fuzzer,address,undefined \
			-o build/libfuzzer/$$t fuzz/fuzz_$$t.c cli/parse.c $(FUZZ_LIB_SRC) -lmsgpackc || exit 1; \
		mkdir -p build/libfuzzer/corpus-$$t && cp fuzz/corpus/$$t/* build/libfuzzer/corpus-$$t/; \
		build/libfuzzer/$$t -max_total_time=$(FUZZ_SECONDS) build/libfuzzer/corpus-$$t || exit 1; \
	done

deps:
	@scripts/deps.sh

test: deps
	$(MAKE) --no-print-directory O=build/release build
	$(MAKE) --no-print-directory O=build/asan SAN=1 build
	@tests/run.sh build/release build/asan

demo: deps
	$(MAKE) --no-print-directory O=build/release build
	@examples/run.sh build/release

bench: deps
	$(MAKE) --no-print-directory O=build/release build
	@$(BENCHBIN)

kin.pc: kin.pc.in Makefile
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VERSION)|' $< > $@

install: build kin.pc
	install -d $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include \
		$(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 644 include/kin.h $(DESTDIR)$(PREFIX)/include/kin.h
	install -m 644 $(STATIC) $(DESTDIR)$(PREFIX)/lib/libkin.a
	install -m 755 $(SHARED) $(DESTDIR)$(PREFIX)/lib/libkin.so.$(VERSION)
	ln -sf libkin.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/libkin.so.$(SOMAJOR)
	ln -sf libkin.so.$(SOMAJOR) $(DESTDIR)$(PREFIX)/lib/libkin.so
	install -m 755 $(KIN) $(DESTDIR)$(PREFIX)/bin/kin
	install -m 644 kin.pc $(DESTDIR)$(PREFIX)/lib/pkgconfig/kin.pc

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/include/kin.h $(DESTDIR)$(PREFIX)/lib/libkin.* \
		$(DESTDIR)$(PREFIX)/bin/kin $(DESTDIR)$(PREFIX)/lib/pkgconfig/kin.pc

format:
	clang-format -i include/*.h src/*/*.[ch] cli/*.[ch] tests/*.[ch] tests/*/*.c bench/*.[ch] examples/*.c fuzz/*.c

clean:
	rm -rf build kin.pc
