# animeface build. `make` builds the two libraries and the CLI, `make test` runs the
# tests, `make asan` the same tests under AddressSanitizer + UBSan.
#   MODE=release (default, -O2) | debug | asan   -- output in build/$(MODE)

MODE ?= release
PREFIX ?= /usr/local
BUILD ?= build/$(MODE)
VERSION := 0.1.0
SOVERSION := 0

# ---- which library each src/ folder goes into ----------------------------------------------
# libanimeface (inference; include/animeface.h) and libanimeface-train (training, validation,
# datasets, plots and annotated images; include/animeface-train.h), then the CLI's own code.
# A new folder under src/ must be added to one of these lists (the build stops otherwise);
# HACKING.md has the layer order (LAYERS below; `make layers` checks the includes).
INFER_DIRS := core io ops model detect
TRAIN_DIRS := draw data eval train
CLI_DIRS := cli serve
# the layer order, lowest first (commas: one layer); an include may only go down or sideways
LAYERS := core io,ops model detect draw,data,eval train cli,serve

# Debian packages (pkg-config names) each library needs, and the CLI alone
INFER_PKGS := libpng libjpeg libwebp libwebpdemux libtiff-4 libgif libavif libexif libzip libcjson
TRAIN_PKGS := cairo freetype2 yaml-0.1
# (serve: the HTTP server and SHA-256; src/serve is CLI code, in no library)
CLI_PKGS := libmicrohttpd nettle
PKGS := $(INFER_PKGS) $(TRAIN_PKGS) $(CLI_PKGS)
INFER_SYSLIBS := -ldnnl -fopenmp -lpthread -lm
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
INFER_LIBS := $(shell pkg-config --libs $(INFER_PKGS) 2>/dev/null) $(INFER_SYSLIBS)
TRAIN_LIBS := $(shell pkg-config --libs $(TRAIN_PKGS) 2>/dev/null)
CLI_LIBS := $(if $(CLI_PKGS),$(shell pkg-config --libs $(CLI_PKGS) 2>/dev/null))
PKG_LIBS := $(TRAIN_LIBS) $(INFER_LIBS)

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
# objects export only what the public headers declare (their visibility pragmas): what the
# shared libraries export (the CLI's objects are built alike; an executable exports nothing)
LIB_CFLAGS := -fvisibility=hidden

UNMAPPED := $(filter-out $(INFER_DIRS) $(TRAIN_DIRS) $(CLI_DIRS),$(notdir $(wildcard src/*)))
ifneq ($(UNMAPPED),)
  $(error src/$(firstword $(UNMAPPED)) is in no library: add it to INFER_DIRS, TRAIN_DIRS or CLI_DIRS in the Makefile)
endif
dir_src = $(sort $(foreach d,$(1),$(wildcard src/$(d)/*.c)))
in_dirs = $(filter $(foreach d,$(1),src/$(d)/%),$(2))

# LIB_SRC may be narrowed to a subset on the command line (see HACKING.md)
LIB_SRC ?= $(call dir_src,$(INFER_DIRS) $(TRAIN_DIRS))
INFER_SRC := $(call in_dirs,$(INFER_DIRS),$(LIB_SRC))
TRAIN_SRC := $(call in_dirs,$(TRAIN_DIRS),$(LIB_SRC))
CLI_SRC := $(call dir_src,$(CLI_DIRS))
TEST_SRC := $(sort $(wildcard tests/test_*.c))
BENCH_SRC := $(sort $(wildcard bench/*.c))

INFER_OBJ := $(INFER_SRC:%.c=$(BUILD)/obj/%.o)
TRAIN_OBJ := $(TRAIN_SRC:%.c=$(BUILD)/obj/%.o)
CLI_OBJ := $(CLI_SRC:%.c=$(BUILD)/obj/%.o)
TEST_BIN := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
BENCH_BIN := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)

INFER_A := $(BUILD)/libanimeface.a
TRAIN_A := $(BUILD)/libanimeface-train.a
INFER_SO := $(BUILD)/libanimeface.so.$(VERSION)
TRAIN_SO := $(BUILD)/libanimeface-train.so.$(VERSION)
# what the CLI, tests, benchmarks and fuzz targets link (statically: they use internal headers)
LIB := $(TRAIN_A) $(INFER_A)
CLI := $(BUILD)/animeface

.PHONY: all libs test test-layouts asan check layers demo bench install embed-install clean
all: libs $(CLI)
libs: $(LIB) $(INFER_SO) $(TRAIN_SO)

# objects are rebuilt when the compile command changes (e.g. -fvisibility=hidden was added)
FLAGS_STAMP := $(BUILD)/cflags.txt
FLAGS_NOW := $(CC) $(CFLAGS_ALL) $(LIB_CFLAGS)
ifneq ($(FLAGS_NOW),$(shell cat $(FLAGS_STAMP) 2>/dev/null))
  $(shell mkdir -p $(BUILD) && printf '%s\n' "$(FLAGS_NOW)" > $(FLAGS_STAMP))
endif

$(BUILD)/obj/%.o: %.c $(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	@echo "CC $<"
	@$(CC) $(CFLAGS_ALL) $(LIB_CFLAGS) -MMD -MP -c $< -o $@

$(INFER_A): $(INFER_OBJ)
$(TRAIN_A): $(TRAIN_OBJ)
$(INFER_A) $(TRAIN_A):
	@mkdir -p $(dir $@)
	@echo "AR $@"
	@rm -f $@ && ar rcs $@ $^

# shared libraries: SONAME lib*.so.$(SOVERSION), a version script made from the public header
# (scripts/public-symbols.sh). libanimeface-train.so carries the inference objects it uses
# (from libanimeface.a, hidden), so it needs no internal symbol of libanimeface.so.
$(BUILD)/%.map: include/%.h scripts/public-symbols.sh
	@mkdir -p $(dir $@)
	@sh scripts/public-symbols.sh $< --map $(subst -,_,$(shell echo $* | tr a-z A-Z))_$(SOVERSION) > $@

$(INFER_SO): $(INFER_OBJ) $(BUILD)/animeface.map
	@echo "LD $@"
	@$(CC) -shared $(LDFLAGS_ALL) -Wl,-soname,libanimeface.so.$(SOVERSION) \
		-Wl,--version-script=$(BUILD)/animeface.map -Wl,--no-undefined -o $@ $(INFER_OBJ) $(INFER_LIBS)
	@ln -sf $(notdir $@) $(BUILD)/libanimeface.so.$(SOVERSION) && ln -sf $(notdir $@) $(BUILD)/libanimeface.so

$(TRAIN_SO): $(TRAIN_OBJ) $(INFER_A) $(BUILD)/animeface-train.map
	@echo "LD $@"
	@$(CC) -shared $(LDFLAGS_ALL) -Wl,-soname,libanimeface-train.so.$(SOVERSION) \
		-Wl,--version-script=$(BUILD)/animeface-train.map -Wl,--no-undefined -o $@ \
		$(TRAIN_OBJ) $(INFER_A) $(PKG_LIBS)
	@ln -sf $(notdir $@) $(BUILD)/libanimeface-train.so.$(SOVERSION) && ln -sf $(notdir $@) $(BUILD)/libanimeface-train.so

$(CLI): $(CLI_OBJ) $(LIB)
	@echo "LD $@"
	@$(CC) $(LDFLAGS_ALL) -o $@ $(CLI_OBJ) $(LIB) $(CLI_LIBS) $(PKG_LIBS)

$(BUILD)/tests/%: tests/%.c tests/testutil.h $(LIB)
	@mkdir -p $(dir $@)
	@echo "CC $<"
	@$(CC) $(CFLAGS_ALL) -Itests -MMD -MP -o $@ $< $(LIB) $(PKG_LIBS) $(TEST_LDFLAGS)

# test_oom: the library's own allocations go through the test's failing allocator
OOM_WRAP := malloc calloc realloc posix_memalign aligned_alloc strdup strndup
$(BUILD)/tests/test_oom: TEST_LDFLAGS = $(OOM_WRAP:%=-Wl,--wrap=%)

$(BUILD)/bench/%: bench/%.c $(LIB)
	@mkdir -p $(dir $@)
	@$(CC) $(CFLAGS_ALL) -MMD -MP -o $@ $< $(LIB) $(PKG_LIBS)

# tests/embed/test_embed.sh: a detection program built against libanimeface alone, installed
# into a scratch root (EMBED_DIR) as an embedder would
EMBED_DIR := $(BUILD)/embed
EMBED_ENV := AF_EMBED_ROOT=$(EMBED_DIR)/usr AF_EMBED_CFLAGS="$(OPT)" CC="$(CC)"
embed-install: all
	@rm -rf $(EMBED_DIR)
	@$(MAKE) --no-print-directory -s install DESTDIR=$(abspath $(EMBED_DIR)) PREFIX=/usr >/dev/null

test: $(TEST_BIN) $(CLI) embed-install
	@AF_CLI=$(CLI) AF_BUILD=$(BUILD) $(EMBED_ENV) sh tests/run.sh $(TEST_BIN) tests/embed/test_embed.sh

asan:
	$(MAKE) MODE=asan test

# The golden parity tests again in both activation layouts (ops/blocked.h),
# whatever this CPU is: nChw16c forced (on an AVX2 CPU oneDNN runs it between
# reorders), then nChw8c with oneDNN capped to AVX2 (the Winograd branch).
LAYOUT_TESTS := $(addprefix $(BUILD)/tests/,test_ops test_forward test_predict test_val test_model)
test-layouts: $(LAYOUT_TESTS) $(CLI)
	@AF_BLK=16 AF_CLI=$(CLI) sh tests/run.sh $(LAYOUT_TESTS)
	@AF_BLK=8 ONEDNN_MAX_CPU_ISA=AVX2 AF_CLI=$(CLI) sh tests/run.sh $(LAYOUT_TESTS)

layers:
	@sh scripts/check-layers.sh $(LAYERS)

check:
	$(MAKE) layers
	$(MAKE) test
	$(MAKE) test-layouts
	$(MAKE) MODE=asan test
	$(MAKE) MODE=asan fuzz-replay
	$(MAKE) tsan
	$(MAKE) valgrind

demo: $(CLI)
	$(CLI) predict samples --save --project runs/demo --name predict --exist-ok

bench: $(BENCH_BIN) $(CLI)

# both libraries (static and shared), their headers and pkg-config files, and the CLI
LIBDIR := $(DESTDIR)$(PREFIX)/lib
install: all
	install -d $(LIBDIR)/pkgconfig $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/bin
	install -m 644 $(LIB) $(LIBDIR)/
	install -m 755 $(INFER_SO) $(TRAIN_SO) $(LIBDIR)/
	for l in libanimeface libanimeface-train; do \
		ln -sf $$l.so.$(VERSION) $(LIBDIR)/$$l.so.$(SOVERSION) && ln -sf $$l.so.$(VERSION) $(LIBDIR)/$$l.so; done
	install -m 644 include/animeface.h include/animeface-train.h $(DESTDIR)$(PREFIX)/include/
	install -m 755 $(CLI) $(DESTDIR)$(PREFIX)/bin/
	for p in animeface animeface-train; do \
		sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VERSION)|' -e 's|@INFER_PKGS@|$(INFER_PKGS)|' \
			-e 's|@TRAIN_PKGS@|$(TRAIN_PKGS)|' -e 's|@INFER_SYSLIBS@|$(INFER_SYSLIBS)|' \
			$$p.pc.in > $(LIBDIR)/pkgconfig/$$p.pc; done
	@[ -n "$(DESTDIR)" ] || [ "$$(id -u)" != 0 ] || ldconfig 2>/dev/null || true # the runtime linker's cache

clean:
	rm -rf build

-include $(shell find build -name '*.d' 2>/dev/null)

# the bundled model is compiled into the CLI (src/cli/default_model.c)
$(BUILD)/obj/src/cli/default_model.o: models/default.safetensors
# and serve's page (src/serve/page.c)
$(BUILD)/obj/src/serve/page.o: src/serve/page.html

-include fuzz.mk
-include tsan.mk
