# r1.c: make (r1), make test, make bench, make aha, make plots, make mutate, make clean,
# make exercise N, make check N
CC ?= gcc
OPT ?= -O3
CFLAGS = -std=c11 $(OPT) -march=native -Wall -Wextra -fopenmp
LDLIBS = -lm
# OpenBLAS when its header is present, r1's own matmul (gemm) otherwise (decided here, printed);
# make BLAS=no builds without OpenBLAS even where it is installed
BLAS := $(shell echo 'int main(void){return 0;}' | $(CC) -x c -include cblas.h - -o /dev/null -lopenblas 2>/dev/null && echo yes)
ifeq ($(BLAS),yes)
  CFLAGS += -DUSE_BLAS
  LDLIBS += -lopenblas
  $(info r1: building with OpenBLAS)
else
  $(info r1: building without BLAS (r1's own matmul))
endif
# the build's flags in .build-config, rewritten only when they change: every binary depends on it, so a
# change of the BLAS decision (or of CC, CFLAGS) rebuilds them
BUILD_CONFIG := $(CC) $(CFLAGS) $(LDLIBS)
$(shell test "$$(cat .build-config 2>/dev/null)" = "$(BUILD_CONFIG)" || echo "$(BUILD_CONFIG)" > .build-config)

r1: r1.c .build-config
	$(CC) $(CFLAGS) -o $@ r1.c $(LDLIBS)

test_r1: test_r1.c r1.c tools/check.h .build-config
	$(CC) $(CFLAGS) -o $@ test_r1.c $(LDLIBS)

# the CUDA kernels on the CPU, the PyTorch reference check, the main suite, the study summary, Part I built
# alone (tools/test_part1.sh); every one runs even
# if one fails, and the last line adds up all their checks (tools/run_tests.sh). R1_REQUIRE_REF=1 (set by
# CI) makes the reference check fail instead of skipping where python3 cannot import torch.
TEST_PROGRAMS = ./tools/test_cuda ./ref/test_ref ./test_r1 ./tools/test_study.sh ./tools/test_part1.sh
test: test_r1 tools/test_cuda ref/test_ref
	@./tools/run_tests.sh $(TEST_PROGRAMS)

# the PyTorch reference check: r1.c against ref/r1_ref.py (SKIPPED where python3 cannot import torch)
ref/test_ref: ref/test_ref.c r1.c tools/check.h .build-config
	$(CC) $(CFLAGS) -o $@ ref/test_ref.c $(LDLIBS)

# throughput of r1 and of the PyTorch reference (ref/bench_ref.py) on the teacher and student presets,
# measured in alternation; built with OpenBLAS, r1 both through OpenBLAS and through its own matmul
tools/bench: tools/bench.c r1.c .build-config
	$(CC) $(CFLAGS) -o $@ tools/bench.c $(LDLIBS)

bench: tools/bench
	./tools/bench

# every test program under AddressSanitizer and UndefinedBehaviorSanitizer (leak checks off: the
# error-path tests exit from forked children while OpenMP threads run, which LeakSanitizer reports)
SAN = -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
SAN_PROGRAMS = ./tools/test_cuda_asan ./ref/test_ref_asan ./test_r1_asan
test-asan: test_r1.c ref/test_ref.c tools/test_cuda.c tools/cuda_emu.h tools/check.h r1.c r1.cu
	$(CC) -std=c11 $(SAN) -Wall -Wextra -fopenmp -o test_r1_asan test_r1.c $(filter -DUSE_BLAS,$(CFLAGS)) $(LDLIBS)
	$(CC) -std=c11 $(SAN) -Wall -Wextra -fopenmp -o ref/test_ref_asan ref/test_ref.c $(filter -DUSE_BLAS,$(CFLAGS)) $(LDLIBS)
	$(CXX) -std=c++17 $(SAN) -Wall -Wextra -include tools/cuda_emu.h -x c++ -c -o tools/r1_cu_emu_asan.o r1.cu
	$(CC) -std=c11 $(SAN) -Wall -Wextra -fopenmp -DR1_CUDA -o tools/test_cuda_asan tools/test_cuda.c \
	    tools/r1_cu_emu_asan.o $(filter -DUSE_BLAS,$(CFLAGS)) $(LDLIBS) -lstdc++
	@ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=print_stacktrace=1 ./tools/run_tests.sh $(SAN_PROGRAMS)

# ---- data parallel over processes (MPI): make r1_mpi needs mpicc (Debian: openmpi-bin libopenmpi-dev);
# make and make test do not. make test-mpi: 2 processes against 1 on the same batches (tools/test_mpi.sh)
MPICC ?= mpicc
r1_mpi: r1.c .build-config
	@command -v $(MPICC) >/dev/null || { echo "make r1_mpi needs mpicc (apt-get install openmpi-bin libopenmpi-dev)"; exit 1; }
	OMPI_CC=$(CC) MPICH_CC=$(CC) $(MPICC) $(CFLAGS) -DR1_MPI -o $@ r1.c $(LDLIBS)

tools/mpi_compare: tools/mpi_compare.c r1.c .build-config
	$(CC) $(CFLAGS) -o $@ tools/mpi_compare.c $(LDLIBS)

test-mpi: r1_mpi tools/mpi_compare
	sh tools/test_mpi.sh

clean:
	rm -f r1 r1_mpi test_r1 r1_cuda tools/test_cuda tools/mpi_compare ref/test_ref tools/bench $(SAN_PROGRAMS) *.o tools/*.o .build-config


# the R1-Zero "aha moment": pretrain the base model (a finished one is kept, an interrupted one
# continued), run R1-Zero (its report: runs/zero/report.html), and the gnuplot figures where gnuplot is
# installed
# make aha WORLD=countdown: the same in the countdown world (runs/countdown/base, runs/countdown/zero);
# WORLD=code in the code world (runs/code/base, runs/code/zero)
WORLD ?= addition
aha: r1
	./r1 pretrain --world $(WORLD) --resume
	./r1 zero --world $(WORLD) --overwrite
	@if [ "$(WORLD)" = addition ] && command -v gnuplot >/dev/null; then $(MAKE) --no-print-directory plots; fi

# many RL runs, one CSV each (tools/study.sh): 10 + 3x3 seeds; the controls; the loss normalisation alone.
# Resumable: run the same target again after a kill.
seeds controls ablation: r1
	sh tools/study.sh $@

# the report of a short run rendered by headless Chromium (where installed): the screenshot is not blank
test-report: r1
	sh tools/test_report.sh

plots:
	@command -v gnuplot >/dev/null || { echo "make plots needs gnuplot (apt-get install gnuplot-nox)"; exit 1; }
	gnuplot -e "run='runs/zero'" tools/plots.gp
	@echo "wrote runs/zero/accuracy.png runs/zero/length.png runs/zero/reflection.png"

# the mutation score of the tests: tools/mutants.txt applied one at a time to a copy of r1.c (tools/mutate.py)
mutate:
	/usr/bin/python3 tools/mutate.py

.PHONY: test test-asan test-report test-mpi clean aha plots bench mutate

# ---- CUDA (r1.cu): make r1_cuda needs nvcc; make and make test do not.
# r1.c built with -DR1_CUDA sends matmul and attention to r1.cu's kernels. In make test the same
# kernels run on the CPU (tools/cuda_emu.h) and tools/test_cuda compares them with r1.c's loops.
NVCC ?= $(or $(shell command -v nvcc 2>/dev/null),$(wildcard /usr/local/cuda/bin/nvcc))
NVCCFLAGS ?= -O3 -std=c++17 -Xcompiler -Wall,-Wextra
r1_cuda: r1.c r1.cu
	@test -n "$(NVCC)" || { echo "make r1_cuda needs nvcc (the CUDA toolkit)"; exit 1; }
	$(CC) $(CFLAGS) -DR1_CUDA -c -o r1_cuda_host.o r1.c
	$(NVCC) $(NVCCFLAGS) -c -o r1_cuda_kernels.o r1.cu
	$(NVCC) $(NVCCFLAGS) -Xcompiler -fopenmp -o $@ r1_cuda_host.o r1_cuda_kernels.o $(LDLIBS)

tools/test_cuda: tools/test_cuda.c tools/cuda_emu.h tools/check.h r1.cu r1.c .build-config
	$(CXX) -std=c++17 -O2 -Wall -Wextra -include tools/cuda_emu.h -x c++ -c -o tools/r1_cu_emu.o r1.cu
	$(CC) $(CFLAGS) -DR1_CUDA -o $@ tools/test_cuda.c tools/r1_cu_emu.o $(LDLIBS) -lstdc++

# fuzzing (clang's libFuzzer, ASan, UBSan): the data loaders + tokenizer, the checkpoint loader, the
# option parser and the code world's interpreter and judge, FUZZ_SECONDS each, from the committed seeds
# (fuzz/seeds/*); see fuzz/fuzz_r1.h
FUZZ_SECONDS ?= 60
FUZZ_TARGETS = fuzz/fuzz_data fuzz/fuzz_checkpoint fuzz/fuzz_options fuzz/fuzz_code
fuzz/fuzz_%: fuzz/fuzz_%.c fuzz/fuzz_r1.h r1.c
	clang -std=c11 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -Wall -Wextra \
	    -o $@ $< -lm

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
.PHONY: seeds controls ablation

# ---- the classroom kit (exercises.md): make exercise N writes exercises/N/, make check N checks it
# (also make exercise-N, make check-N); make test-exercises: every stub fails its check, r1.c passes it
KIT = CC="$(CC)" CFLAGS="$(subst -O3,-O1,$(CFLAGS))" LDLIBS="$(LDLIBS)" tools/exercise.sh
ifneq ($(filter exercise check,$(firstword $(MAKECMDGOALS))),)
  EXERCISE := $(wordlist 2,$(words $(MAKECMDGOALS)),$(MAKECMDGOALS))
  ifneq ($(EXERCISE),)
    $(eval $(EXERCISE):;@:)
  endif
endif
exercise:
	@$(if $(EXERCISE),$(KIT) new $(EXERCISE),echo "make exercise N, one of:"; $(KIT) list)
check:
	@$(if $(EXERCISE),$(KIT) check $(EXERCISE),echo "make check N, for one of:"; $(KIT) list; exit 2)
exercise-%:
	@$(KIT) new $*
check-%:
	@$(KIT) check $*
test-exercises:
	@$(KIT) test-all
# make handout OUT=folder (default handout/): every exercise stubbed, to hand out; make grade DIR=folder:
# every exercise of DIR/NAME/r1.c checked, a table per student and DIR/grades.csv
OUT ?= handout
handout:
	@$(KIT) handout $(OUT)
grade:
	@$(KIT) grade $(DIR)
# TEACHER.md's list of the usual wrong answers (tools/kit/wrong, tools/kit/escapes), each with what its
# check prints, written again from the checks' output
teacher-page:
	@$(KIT) teacher-page

.PHONY: exercise check test-exercises handout grade teacher-page
