# Fuzzing and memory checks (issue 7); included by the Makefile. See fuzz/README.md.
#   make fuzz         libFuzzer targets (clang, -fsanitize=fuzzer,address,undefined) in build/fuzz/
#   make fuzz-replay  replays fuzz/corpus/<target>/ through each target in the current MODE
#                     (gcc is fine: fuzz/replay.c is a plain main); `make check` runs it in asan
#   make valgrind     the CLI under valgrind on samples/ (predict) and a tiny val dataset

FUZZ_SRC := $(sort $(wildcard fuzz/fuzz_*.c))
FUZZ_NAMES := $(FUZZ_SRC:fuzz/fuzz_%.c=%)
FUZZ_CC ?= clang
FUZZ_BUILD ?= build/fuzz
# objects outside the library that a target needs (opt_parse lives with the CLI)
FUZZ_OBJ := $(BUILD)/obj/src/cli/options.o
REPLAY_BIN := $(FUZZ_NAMES:%=$(BUILD)/fuzz/replay_%)

.PHONY: fuzz fuzz-bins fuzz-replay valgrind

# the library in asan mode plus coverage instrumentation, built by clang into $(FUZZ_BUILD)
fuzz:
	$(MAKE) MODE=asan BUILD=$(FUZZ_BUILD) CC=$(FUZZ_CC) CFLAGS="-fsanitize=fuzzer-no-link -Wno-unknown-warning-option $(FUZZ_CFLAGS)" fuzz-bins

fuzz-bins: $(FUZZ_NAMES:%=$(BUILD)/fuzz_%)

$(BUILD)/fuzz_%: fuzz/fuzz_%.c $(wildcard fuzz/*.h) $(LIB) $(FUZZ_OBJ)
	@echo "LD $@"
	@$(CC) $(CFLAGS_ALL) -Ifuzz -fsanitize=fuzzer -o $@ $< $(FUZZ_OBJ) $(LIB) $(PKG_LIBS) -lstdc++

$(BUILD)/fuzz/replay_%: fuzz/fuzz_%.c fuzz/replay.c $(wildcard fuzz/*.h) $(LIB) $(FUZZ_OBJ)
	@mkdir -p $(dir $@)
	@echo "LD $@"
	@$(CC) $(CFLAGS_ALL) -Ifuzz -DFUZZ_NAME='"$*"' -o $@ $< fuzz/replay.c $(FUZZ_OBJ) $(LIB) $(PKG_LIBS)

fuzz-replay: $(REPLAY_BIN)
	@sh tests/run.sh $(REPLAY_BIN)

# ---- valgrind -------------------------------------------------------------------------------
# Runs the release-mode CLI (valgrind does not mix with ASan) on small inputs. The val dataset
# is 4 iCartoonFace val images with their labels from $(AF_SHARED)/data/icartoonface, listed
# in a text file under build/valgrind.
AF_SHARED ?= ../shared
VALGRIND ?= valgrind
VALGRIND_FLAGS ?= --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite \
	--track-origins=yes --show-leak-kinds=definite -q
VG_DIR := build/valgrind
VG_BUILD ?= build/release
VG_CLI := $(VG_BUILD)/animeface
VG_DATA := $(AF_SHARED)/data/icartoonface

valgrind:
	$(MAKE) MODE=release BUILD=$(VG_BUILD) $(VG_CLI)
	@rm -rf $(VG_DIR) && mkdir -p $(VG_DIR)
	@test -d "$(VG_DATA)/images/val" || { echo "valgrind: $(VG_DATA) not found (set AF_SHARED)"; exit 1; }
	@ls "$(VG_DATA)/images/val" | sort | head -n 4 | sed 's|^|$(abspath $(VG_DATA))/images/val/|' > $(VG_DIR)/val.txt
	@printf 'train: val.txt\nval: val.txt\nnames:\n  0: face\n' > $(VG_DIR)/data.yaml
	$(VALGRIND) $(VALGRIND_FLAGS) $(VG_CLI) predict samples --imgsz 160 --threads 1 --save \
		--project $(VG_DIR) --name predict --exist-ok
	$(VALGRIND) $(VALGRIND_FLAGS) $(VG_CLI) val --data $(VG_DIR)/data.yaml --imgsz 160 --threads 1 --batch 2 \
		--project $(VG_DIR) --name val --exist-ok
	$(VALGRIND) $(VALGRIND_FLAGS) $(VG_CLI) train --data $(VG_DIR)/data.yaml \
		--model $(AF_SHARED)/pretrained/yolov8n-coco.safetensors --epochs 1 --imgsz 64 --batch 2 \
		--workers 1 --threads 1 --plots=False --project $(VG_DIR) --name train --exist-ok
	@echo "valgrind: no errors"
