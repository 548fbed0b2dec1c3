# r1.c: make (r1), make test, make bench, make aha, make plots, make clean
CC ?= gcc
CFLAGS = -std=c11 -O3 -march=native -Wall -Wextra -fopenmp
LDLIBS = -lm
# OpenBLAS when its header is present, the plain C matmul otherwise (decided here, printed)
BLAS := $(shell echo 'int main(void){return 0;}' | $(CC) -x c -include cblas.h - -o /dev/null -lopenblas 2>/dev/null && echo yes)
ifeq ($(BLAS),yes)
  CFLAGS += -DUSE_BLAS
  LDLIBS += -lopenblas
  $(info r1: building with OpenBLAS)
else
  $(info r1: building without BLAS (plain C matmul))
endif

r1: r1.c
	$(CC) $(CFLAGS) -o $@ r1.c $(LDLIBS)

test_r1: test_r1.c r1.c
	$(CC) $(CFLAGS) -o $@ test_r1.c $(LDLIBS)

test: test_r1
	./test_r1

# the whole test suite under AddressSanitizer and UndefinedBehaviorSanitizer (leak checks off: the
# error-path tests exit from forked children while OpenMP threads run, which LeakSanitizer reports)
test-asan: test_r1.c r1.c
	$(CC) -std=c11 -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all \
	    -Wall -Wextra -fopenmp -o test_r1_asan test_r1.c $(filter -DUSE_BLAS,$(CFLAGS)) $(LDLIBS)
	ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=print_stacktrace=1 ./test_r1_asan

clean:
	rm -f r1 test_r1 test_r1_asan


# the R1-Zero "aha moment": pretrain the base model if it is missing, run R1-Zero, draw the figures
aha: r1
	@test -f runs/base/model.bin || ./r1 pretrain
	./r1 zero
	$(MAKE) --no-print-directory plots

plots:
	@command -v gnuplot >/dev/null || { echo "make plots needs gnuplot (apt-get install gnuplot-nox)"; exit 1; }
	gnuplot -e "run='runs/zero'" tools/plots.gp
	@echo "wrote runs/zero/accuracy.png runs/zero/length.png runs/zero/reflection.png"

.PHONY: test test-asan clean aha plots

# fuzzing (clang's libFuzzer, ASan, UBSan): the data loaders + tokenizer, the checkpoint loader and the
# option parser, FUZZ_SECONDS each, from the committed seeds (fuzz/seeds/*); see fuzz/fuzz_r1.h
FUZZ_SECONDS ?= 60
FUZZ_TARGETS = fuzz/fuzz_data fuzz/fuzz_checkpoint fuzz/fuzz_options
fuzz/fuzz_%: fuzz/fuzz_%.c fuzz/fuzz_r1.h r1.c
	clang -std=c11 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -Wall -Wextra \
	    -Wno-string-plus-int -o $@ $< -lm

fuzz: $(FUZZ_TARGETS)
	@for t in $(FUZZ_TARGETS); do \
	    name=$${t#fuzz/fuzz_}; mkdir -p fuzz/work/$$name; \
	    echo "fuzz: $$name for $(FUZZ_SECONDS) s (log: fuzz/work/$$name.log)"; \
	    ./$$t -max_total_time=$(FUZZ_SECONDS) -max_len=16384 -close_fd_mask=1 -print_final_stats=1 \
	        -artifact_prefix=fuzz/work/$$name- fuzz/work/$$name fuzz/seeds/$$name > fuzz/work/$$name.log 2>&1; \
	    status=$$?; \
	    grep -E 'DONE|stat::number_of_executed_units|stat::average_exec_per_sec' fuzz/work/$$name.log; \
	    if [ $$status -ne 0 ]; then tail -n 40 fuzz/work/$$name.log; exit 1; fi; \
	done

.PHONY: fuzz
