# animeface build. `make` builds the library and CLI, `make test` runs the
# tests, `make asan` the same tests under AddressSanitizer + UBSan.
#   MODE=release (default, -O2) | debug | asan   -- output in build/$(MODE)

MODE ?= release
PREFIX ?= /usr/local
BUILD ?= build/$(MODE)

PKGS := libpng libjpeg libwebp libwebpdemux libtiff-4 libgif libavif libexif libzip libcjson cairo freetype2 yaml-0.1
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -ldnnl -fopenmp -lpthread -lm

CC ?= cc
WARN := -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter -Wno-format-truncation
BASE_CFLAGS := -std=c11 -D_DEFAULT_SOURCE -D_FILE_OFFSET_BITS=64 $(WARN) -Iinclude -Isrc $(PKG_CFLAGS) -fPIC -fopenmp
ifeq ($(MODE),release)
  OPT := -O2 -g -fno-math-errno
else ifeq ($(MODE),debug)
  OPT := -O0 -g
else ifeq ($(MODE),asan)
  OPT := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
else
  $(error unknown MODE=$(MODE): use release, debug or asan)
endif
CFLAGS_ALL := $(BASE_CFLAGS) $(OPT) $(CFLAGS)
LDFLAGS_ALL := $(OPT) $(LDFLAGS)

LIB_SRC ?= $(shell find src -name '*.c' -not -path 'src/cli/*' | sort)
CLI_SRC := $(sort $(wildcard src/cli/*.c))
TEST_SRC := $(sort $(wildcard tests/test_*.c))
BENCH_SRC := $(sort $(wildcard bench/*.c))

LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
CLI_OBJ := $(CLI_SRC:%.c=$(BUILD)/obj/%.o)
TEST_BIN := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
BENCH_BIN := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)

LIB := $(BUILD)/libanimeface.a
CLI := $(BUILD)/animeface

.PHONY: all test asan check demo bench install clean
all: $(LIB) $(CLI)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "CC $<"
	@$(CC) $(CFLAGS_ALL) -MMD -MP -c $< -o $@

$(LIB): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	@echo "AR $@"
	@rm -f $@ && ar rcs $@ $^

$(CLI): $(CLI_OBJ) $(LIB)
	@echo "LD $@"
	@$(CC) $(LDFLAGS_ALL) -o $@ $(CLI_OBJ) $(LIB) $(PKG_LIBS)

$(BUILD)/tests/%: tests/%.c tests/testutil.h $(LIB)
	@mkdir -p $(dir $@)
	@echo "CC $<"
	@$(CC) $(CFLAGS_ALL) -Itests -MMD -MP -o $@ $< $(LIB) $(PKG_LIBS)

$(BUILD)/bench/%: bench/%.c $(LIB)
	@mkdir -p $(dir $@)
	@$(CC) $(CFLAGS_ALL) -MMD -MP -o $@ $< $(LIB) $(PKG_LIBS)

test: $(TEST_BIN) $(CLI)
	@AF_CLI=$(CLI) sh tests/run.sh $(TEST_BIN)

asan:
	$(MAKE) MODE=asan test

check:
	$(MAKE) test
	$(MAKE) MODE=asan test
	$(MAKE) MODE=asan fuzz-replay
	$(MAKE) tsan
	$(MAKE) valgrind

demo: $(CLI)
	$(CLI) predict samples --save --project runs/demo --name predict --exist-ok

bench: $(BENCH_BIN) $(CLI)

install: $(LIB) $(CLI)
	install -d $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 644 $(LIB) $(DESTDIR)$(PREFIX)/lib/
	install -m 644 include/animeface.h $(DESTDIR)$(PREFIX)/include/
	install -m 755 $(CLI) $(DESTDIR)$(PREFIX)/bin/
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@PKGS@|$(PKGS)|' animeface.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/animeface.pc

clean:
	rm -rf build

-include $(shell find build -name '*.d' 2>/dev/null)

# the bundled model is compiled into the CLI (src/cli/default_model.c)
$(BUILD)/obj/src/cli/default_model.o: models/default.safetensors

-include fuzz.mk
-include tsan.mk
