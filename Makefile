# vqaprune: compress and debias vision-language models for VQA, in PostgreSQL.
#
#   make            build the extension
#   make install    install it into the server found by pg_config
#   make test       everything a new machine needs, then every test suite
#   make demo       the main job on the embedded synthetic benchmark
#   make bench      speed measurements (doc/benchmarks.md)
#   make fuzz       every file parser's fuzzer, 5 minutes each (FUZZ_SECONDS to change)
#   make results    the Stage 1, VisualBERT (Figure 7) and VQA-VS (Table 2) experiments
#                   of doc/results.md (about 2 hours); make results-stage1,
#                   results-visualbert or results-vqavs runs one
#   make results-pruning  the Stage 2 experiment and its plot (about 30 minutes)
#   make results-authors  both, for the paper authors' model (about 15 minutes)
#   make masker-compare   mask training in vqaprune and in a PyTorch port of the
#                         authors' masker, per-epoch curves side by side (about 40 minutes)
#   make bench-scale      the full-size benchmark, VQA-CP v2 sizes on one server (about 80 minutes)
#   make results-float16  Stage 1 accuracy with float32 and float16 features (about 25 minutes)

EXTENSION = vqaprune
EXTVERSION = 0.6.0

MODULE_big = vqaprune
CORE_SRCS = $(sort $(wildcard src/core/*.c))
GLUE_SRCS = $(sort $(wildcard src/pg/*.c))
OBJS = $(CORE_SRCS:.c=.o) $(GLUE_SRCS:.c=.o)
DATA = $(wildcard sql/$(EXTENSION)--*.sql)
PGFILEDESC = "vqaprune - compress and debias VQA models"

REGRESS = metric synthetic loaders predictions
REGRESS_OPTS = --load-extension=$(EXTENSION)

BLAS_CFLAGS := $(shell pkg-config --cflags openblas 2>/dev/null)
BLAS_LIBS := $(shell pkg-config --libs openblas 2>/dev/null || echo -lopenblas)
CORE_LIBS = -lyajl -lutf8proc -lz $(BLAS_LIBS) -lmvec -lm
PG_CPPFLAGS = -Iinclude $(BLAS_CFLAGS)
# -fno-math-errno: nothing reads errno after a math function, and without it
# GCC keeps sqrtf a library call and leaves Adam's loop scalar
PG_CFLAGS = -std=gnu11 -fno-math-errno -Wall -Wextra -Werror -Wno-unused-parameter -Wno-sign-compare \
	-Wno-missing-field-initializers
SHLIB_LINK = $(CORE_LIBS)
EXTRA_CLEAN = test/unit/run_unit_tests test/unit/generated test/bench/bench_loaders test/bench/bench_lxmert \
	test/bench/bench_prune

# plain `make` builds the extension, as with any PGXS module (the rule below would otherwise come first)
.DEFAULT_GOAL := all

# the objects follow the headers (PGXS tracks no header dependencies)
$(OBJS): $(wildcard include/vqaprune/*.h src/pg/*.h src/core/*.h)

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs 2>/dev/null)
ifneq ($(wildcard $(PGXS)),)
include $(PGXS)
else
# a fresh machine: make test, demo and bench install what is missing first
all install installcheck:
	@echo "PostgreSQL's server development files are missing: run 'make deps'" >&2; exit 1
endif

# The core is plain C11: built again on its own, without PostgreSQL, for the
# unit tests and benchmarks.
CORE_CFLAGS = -std=c11 -D_POSIX_C_SOURCE=200809L -O2 -fno-math-errno -g -Wall -Wextra -Werror -Wno-unused-parameter -Iinclude $(BLAS_CFLAGS)
UNIT_SRCS = $(sort $(wildcard test/unit/*.c))

# the list of test groups, one per test/unit/test_NAME.c
test/unit/generated/groups.h: $(wildcard test/unit/test_*.c)
	@mkdir -p $(dir $@)
	@for f in $(sort $(notdir $(basename $^))); do \
		echo "UNIT_GROUP_DECL($${f#test_})"; done > $@

test/unit/run_unit_tests: $(UNIT_SRCS) $(CORE_SRCS) test/unit/generated/groups.h $(wildcard include/vqaprune/*.h src/core/*.h test/unit/*.h)
	$(CC) $(CORE_CFLAGS) -Itest/unit -Itest/unit/generated -o $@ $(UNIT_SRCS) $(CORE_SRCS) -lcmocka $(CORE_LIBS)

test/bench/bench_lxmert: test/bench/bench_lxmert.c test/bench/bench_shapes.h $(CORE_SRCS) $(wildcard include/vqaprune/*.h)
	$(CC) $(CORE_CFLAGS) -o $@ test/bench/bench_lxmert.c $(CORE_SRCS) $(CORE_LIBS)

test/bench/bench_prune: test/bench/bench_prune.c test/bench/bench_shapes.h $(CORE_SRCS) $(wildcard include/vqaprune/*.h src/core/*.h)
	$(CC) $(CORE_CFLAGS) -o $@ test/bench/bench_prune.c $(CORE_SRCS) $(CORE_LIBS)

test/bench/bench_loaders: test/bench/bench_loaders.c $(CORE_SRCS) $(wildcard include/vqaprune/*.h)
	$(CC) $(CORE_CFLAGS) -O3 -o $@ test/bench/bench_loaders.c $(CORE_SRCS) $(CORE_LIBS)

.PHONY: unitcheck test demo bench fuzz results results-stage1 results-visualbert results-vqavs results-pruning results-authors masker-compare deps bench-scale results-float16
unitcheck: test/unit/run_unit_tests
	./test/unit/run_unit_tests

deps:
	./test/scripts/ensure-deps.sh

test:
	./test/scripts/run-tests.sh

demo:
	./test/scripts/run-demo.sh

bench:
	./test/scripts/run-bench.sh

fuzz:
	./test/scripts/ensure-deps.sh
	FUZZ_REQUIRED=1 FUZZ_SECONDS=$${FUZZ_SECONDS:-300} ./test/fuzz/run-fuzz.sh

results:
	./test/scripts/run-results.sh

results-stage1 results-visualbert results-vqavs:
	./test/scripts/run-results.sh $(patsubst results-%,%,$@)

results-pruning:
	./test/scripts/run-results-pruning.sh

results-authors:
	./test/scripts/run-results-authors.sh

masker-compare:
	./test/scripts/run-masker-compare.sh

bench-scale:
	./test/scripts/run-bench-scale.sh

results-float16:
	./test/scripts/run-bench-scale.sh float16
