# spoa-jwt. GNU make, no autotools.
#   make              build build/release/spoa-jwt
#   make test         install missing Debian packages, build, run every test
#   make demo         install missing Debian packages, build, run the gateway on loopback
#   make unit         unit tests only (sanitized build)
#   make SANITIZER=address,undefined   sanitized agent in build/asan/
#   make fmt-check    clang-format check
# V=1 shows the compiler command lines.

CC       ?= cc
PKGS     := openssl libcurl jansson libmicrohttpd
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

WARN     := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wstrict-prototypes -Wno-unused-parameter
STD      := -std=c11 -D_GNU_SOURCE
OPT      ?= -O2 -g
SANITIZER ?=

ifeq ($(SANITIZER),)
  VARIANT := release
  SAN_FLAGS :=
else ifeq ($(SANITIZER),thread)
  VARIANT := tsan
  SAN_FLAGS := -fsanitize=thread -fno-omit-frame-pointer
  OPT := -O1 -g
else
  VARIANT := asan
  SAN_FLAGS := -fsanitize=$(SANITIZER) -fno-sanitize-recover=all -fno-omit-frame-pointer
  OPT := -O1 -g
endif

BUILD_ROOT ?= build
B        := $(BUILD_ROOT)/$(VARIANT)
CFLAGS_ALL := $(STD) $(WARN) $(OPT) $(SAN_FLAGS) -Ispop -Iagent $(PKG_CFLAGS) -MMD -MP $(CFLAGS)
LDFLAGS_ALL := $(SAN_FLAGS) $(LDFLAGS)
LIBS     := $(PKG_LIBS) -lev -lpthread

SPOP_SRCS  := $(wildcard spop/*.c)
AGENT_SRCS := $(filter-out agent/main.c,$(wildcard agent/*.c))
LIB_OBJS   := $(patsubst %.c,$(B)/%.o,$(SPOP_SRCS) $(AGENT_SRCS))
UNIT_SRCS  := $(wildcard tests/unit/test_*.c)
UNIT_BINS  := $(patsubst tests/unit/%.c,$(B)/tests/%,$(UNIT_SRCS))
TOOL_SRCS  := $(wildcard tests/tools/*.c)
TOOL_BINS  := $(patsubst tests/tools/%.c,$(B)/tests/%,$(TOOL_SRCS))

ifeq ($(V),1)
  Q :=
else
  Q := @
endif

.PHONY: all clean test unit integ demo deps fmt fmt-check bench fuzz fuzz-ci soak tsan tsan-integ asan tools

all: $(B)/spoa-jwt $(UNIT_BINS) $(TOOL_BINS)

$(B)/libspoajwt.a: $(LIB_OBJS)
	$(Q)rm -f $@ && ar rcs $@ $^

$(B)/spoa-jwt: $(B)/agent/main.o $(B)/libspoajwt.a
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS_ALL) -o $@ $^ $(LIBS)

$(B)/tests/%: tests/unit/%.c $(B)/libspoajwt.a tests/unit/t.h
	@mkdir -p $(dir $@)
	@echo "  CC LD   $@"
	$(Q)$(CC) $(CFLAGS_ALL) -Itests/unit -o $@ $< $(B)/libspoajwt.a $(LDFLAGS_ALL) $(LIBS)

$(B)/tests/%: tests/tools/%.c $(B)/libspoajwt.a
	@mkdir -p $(dir $@)
	@echo "  CC LD   $@"
	$(Q)$(CC) $(CFLAGS_ALL) -o $@ $< $(B)/libspoajwt.a $(LDFLAGS_ALL) $(LIBS)

$(B)/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(CFLAGS_ALL) -c -o $@ $<

asan:
	$(Q)$(MAKE) --no-print-directory SANITIZER=address,undefined all

deps:
	$(Q)scripts/deps.sh

# Unit tests run on the sanitized build.
unit: asan
	$(Q)tests/run.sh unit build/asan

integ: all asan
	$(Q)tests/run.sh integ build/asan

test: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)$(MAKE) --no-print-directory asan
	$(Q)tests/run.sh all build/asan

demo: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)scripts/demo.sh build/release/spoa-jwt

# Fuzzers (clang libFuzzer): FUZZ_SECONDS per target (default 60); CI runs
# `make fuzz-ci` (a short run of each) from `make test`.
fuzz: deps
	$(Q)tests/fuzz/run.sh $${FUZZ_SECONDS:-60}

fuzz-ci:
	$(Q)tests/fuzz/run.sh $${FUZZ_SECONDS:-15}

# ThreadSanitizer build of the agent, then the integration tests with it.
tsan:
	$(Q)$(MAKE) --no-print-directory SANITIZER=thread build/tsan/spoa-jwt

tsan-integ: tsan
	$(Q)AGENT_THREADS=2 tests/run.sh integ build/tsan

# A benchmark, not a test: HAProxy without auth, native jwt_verify, a null
# agent and spoa-jwt side by side (see tests/bench/README.md).
bench: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)tests/bench/run.sh
	$(Q)tests/bench/refresh.sh
	$(Q)tests/bench/memory.sh

# Minutes of distinct tokens and JWKS rotation; not part of `make test`.
soak: deps
	$(Q)$(MAKE) --no-print-directory all asan
	$(Q)tests/soak/run.sh

fmt:
	$(Q)clang-format -i spop/*.[ch] agent/*.[ch] tests/unit/*.[ch]

fmt-check:
	$(Q)clang-format --dry-run --Werror spop/*.[ch] agent/*.[ch]

clean:
	rm -rf build

-include $(shell find build -name '*.d' 2>/dev/null)
