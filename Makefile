# wssnoop - see README.md. `make` builds ./wssnoop; `make test` installs what is
# missing, builds, and runs every test (root needed for the BPF ones).
# Quiet by default; `make V=1` shows full commands.

OUTPUT   := build
ARCH     := $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')
CLANG    ?= clang
CC       ?= cc
BPFTOOL  ?= bpftool
VMLINUX  := vmlinux/$(ARCH)/vmlinux.h

CFLAGS   ?= -g -O2
CFLAGS   += -std=gnu11 -Wall -Wextra -Wno-unused-parameter -Werror=unused-function \
            -Werror=implicit-function-declaration -D_GNU_SOURCE -MMD -MP
INCLUDES := -I$(OUTPUT) -I. -Iuser
BPF_CFLAGS := -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -Wall -Wno-unused-function \
              -Wno-gnu-variable-sized-type-not-at-end \
              -I$(dir $(VMLINUX)) -I. -MMD -MP
LIBS     := -lbpf -lelf -lz -lnettle -lcap -lpthread -ldl
TEST_LIBS := -lcmocka -lnettle

ifeq ($(V),1)
Q :=
msg :=
else
Q := @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

# Loader-side sources need libbpf and the skeletons; everything else in user/
# is pure judgement code, collected in a library the unit tests link against.
LOADER_SRCS := user/main.c user/capture.c user/ring.c
PURE_SRCS   := $(filter-out $(LOADER_SRCS),$(wildcard user/*.c))
BPF_SRCS    := $(wildcard bpf/*.bpf.c)
SKELS       := $(patsubst bpf/%.bpf.c,$(OUTPUT)/%.skel.h,$(BPF_SRCS))
PURE_OBJS   := $(patsubst user/%.c,$(OUTPUT)/user/%.o,$(PURE_SRCS))
LOADER_OBJS := $(patsubst user/%.c,$(OUTPUT)/user/%.o,$(LOADER_SRCS))
UNIT_SRCS   := $(wildcard tests/unit/test_*.c)
UNIT_BINS   := $(patsubst tests/unit/%.c,$(OUTPUT)/tests/%,$(UNIT_SRCS))

.PHONY: all deps deps-test run test unit unit-asan e2e vmtest bench fuzz fuzz-build format lint clean
.DEFAULT_GOAL := all
.SECONDARY:

all: wssnoop

deps:
	$(Q)scripts/install-deps.sh build

deps-test:
	$(Q)scripts/install-deps.sh test

$(OUTPUT) $(OUTPUT)/bpf $(OUTPUT)/user $(OUTPUT)/tests:
	$(Q)mkdir -p $@

$(OUTPUT)/bpf/%.bpf.o: bpf/%.bpf.c $(VMLINUX) | $(OUTPUT)/bpf
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(OUTPUT)/%.skel.h: $(OUTPUT)/bpf/%.bpf.o | $(OUTPUT)
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< > $@.tmp && mv $@.tmp $@

$(OUTPUT)/user/%.o: user/%.c | $(OUTPUT)/user
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) $(INCLUDES) -c $< -o $@

# The loader includes the generated skeletons.
$(LOADER_OBJS): $(SKELS)

$(OUTPUT)/libwssnoop.a: $(PURE_OBJS)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

wssnoop: $(LOADER_OBJS) $(OUTPUT)/libwssnoop.a
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $^ $(LIBS) -o $@

$(OUTPUT)/tests/%: tests/unit/%.c $(OUTPUT)/libwssnoop.a | $(OUTPUT)/tests
	$(call msg,CC-TEST,$@)
	$(Q)$(CC) $(CFLAGS) $(INCLUDES) $< $(OUTPUT)/libwssnoop.a $(TEST_LIBS) -o $@

run: deps
	$(Q)$(MAKE) --no-print-directory all
	./wssnoop $(ARGS)

unit: $(UNIT_BINS)
	$(Q)scripts/run-unit.sh $(UNIT_BINS)

e2e: all
	$(Q)scripts/run-e2e.sh

test: deps-test
	$(Q)$(MAKE) --no-print-directory unit
	$(Q)$(MAKE) --no-print-directory e2e

# The matrix's test peer: static, so it runs alone in the VMs' initramfs.
$(OUTPUT)/wspeer: tests/peers/wspeer.c | $(OUTPUT)
	$(call msg,CC,$@)
	$(Q)$(CC) -std=gnu11 -O2 -Wall -Wextra -static $< -o $@

vmtest: all $(OUTPUT)/wspeer
	$(Q)scripts/vmtest.sh

# The socket capture's programs timed with BPF_PROG_TEST_RUN (make bench's
# micro workload): wssnoop's own loader, so it links the loader's objects.
$(OUTPUT)/bench/capture_cost: tests/bench/capture_cost.c $(OUTPUT)/user/capture.o $(OUTPUT)/user/ring.o \
                              $(OUTPUT)/libwssnoop.a
	$(call msg,CC,$@)
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS) $(INCLUDES) $^ $(LIBS) -o $@

# Every arm against nginx and wspeer, alternating; tables in build/bench/results.md.
bench: all $(OUTPUT)/wspeer
	$(Q)scripts/bench.sh

# The pure code again, with AddressSanitizer and UndefinedBehaviorSanitizer,
# apart from the normal build: `make unit-asan` runs the unit tests on it, and
# any sanitizer report fails them. The fuzz targets (tests/fuzz/) link the same
# sources built for libFuzzer; `make fuzz` runs each for FUZZ_SECONDS.
SAN_FLAGS    := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
ASAN_DIR     := $(OUTPUT)/asan
ASAN_CFLAGS  := $(filter-out -O%,$(CFLAGS)) -O1 $(SAN_FLAGS)
ASAN_OBJS    := $(patsubst user/%.c,$(ASAN_DIR)/user/%.o,$(PURE_SRCS))
ASAN_UNITS   := $(patsubst tests/unit/%.c,$(ASAN_DIR)/tests/%,$(UNIT_SRCS))
FUZZ_DIR     := $(OUTPUT)/fuzz
FUZZ_CFLAGS  := $(filter-out -O%,$(CFLAGS)) -O1 -fsanitize=fuzzer-no-link,address,undefined \
                -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_OBJS    := $(patsubst user/%.c,$(FUZZ_DIR)/user/%.o,$(PURE_SRCS))
FUZZ_TARGETS := $(FUZZ_DIR)/fuzz_judge $(FUZZ_DIR)/fuzz_events
FUZZ_SECONDS ?= 60

$(ASAN_DIR)/user $(ASAN_DIR)/tests $(FUZZ_DIR)/user:
	$(Q)mkdir -p $@

$(ASAN_DIR)/user/%.o: user/%.c | $(ASAN_DIR)/user
	$(call msg,CC-ASAN,$@)
	$(Q)$(CLANG) $(ASAN_CFLAGS) $(INCLUDES) -c $< -o $@

$(ASAN_DIR)/libwssnoop.a: $(ASAN_OBJS)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(ASAN_DIR)/tests/%: tests/unit/%.c $(ASAN_DIR)/libwssnoop.a | $(ASAN_DIR)/tests
	$(call msg,CC-TEST,$@)
	$(Q)$(CLANG) $(ASAN_CFLAGS) $(INCLUDES) $< $(ASAN_DIR)/libwssnoop.a $(TEST_LIBS) -o $@

unit-asan: $(ASAN_UNITS)
	$(Q)ASAN_OPTIONS=detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1 \
		UBSAN_OPTIONS=print_stacktrace=1 scripts/run-unit.sh $(ASAN_UNITS)

$(FUZZ_DIR)/user/%.o: user/%.c | $(FUZZ_DIR)/user
	$(call msg,CC-FUZZ,$@)
	$(Q)$(CLANG) $(FUZZ_CFLAGS) $(INCLUDES) -c $< -o $@

# The harnesses are not instrumented for coverage: the fuzzer is steered by
# wssnoop's code alone, not by the checkers (and runs several times faster).
$(FUZZ_DIR)/%.o: tests/fuzz/%.c | $(FUZZ_DIR)/user
	$(call msg,CC-FUZZ,$@)
	$(Q)$(CLANG) $(ASAN_CFLAGS) $(INCLUDES) -Itests/fuzz -c $< -o $@

$(FUZZ_DIR)/libwssnoop.a: $(FUZZ_OBJS)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

# Through the archive: a target links only the modules it reaches.
$(FUZZ_TARGETS): $(FUZZ_DIR)/%: $(FUZZ_DIR)/%.o $(FUZZ_DIR)/fuzz_check.o $(FUZZ_DIR)/libwssnoop.a
	$(call msg,LINK,$@)
	$(Q)$(CLANG) $(FUZZ_CFLAGS) -fsanitize=fuzzer $^ -lnettle -o $@

fuzz-build: $(FUZZ_TARGETS)

fuzz: $(FUZZ_TARGETS)
	$(Q)scripts/run-fuzz.sh $(FUZZ_SECONDS) $(FUZZ_TARGETS)

format:
	$(Q)clang-format -i bpf/*.c bpf/*.h user/*.c user/*.h tests/unit/*.c tests/fuzz/*.c tests/fuzz/*.h

lint:
	$(Q)cppcheck --quiet --error-exitcode=1 --enable=warning,portability --inline-suppr \
		-I. -Iuser --suppress=missingIncludeSystem user tests/unit tests/fuzz

clean:
	$(call msg,CLEAN,)
	$(Q)rm -rf $(OUTPUT) wssnoop

-include $(wildcard $(OUTPUT)/*/*.d) $(wildcard $(OUTPUT)/tests/*.d) \
	 $(wildcard $(ASAN_DIR)/*/*.d) $(wildcard $(FUZZ_DIR)/*/*.d)
