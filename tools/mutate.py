"""
tools/mutate.py: the mutation score of the tests (make mutate).

Each mutant of tools/mutants.txt (a small plausible bug) is applied alone to a copy of r1.c in a
temporary folder; the test programs are built there (make OPT=-O2, the real Makefile) and run one
after another, test_r1, then ref/test_ref, then tools/test_cuda (OMP_NUM_THREADS=1,
R1_TEST_FAILFAST=1: a program stops at its first failing check). A mutant is killed when a program
fails, crashes or runs past its time limit (4 times its time on the unmodified copy, at least 60 s);
it survives when every program passes. First the unmodified copy must pass everything.

    /usr/bin/python3 tools/mutate.py            all mutants
    /usr/bin/python3 tools/mutate.py NAME...    only these
    /usr/bin/python3 tools/mutate.py --only ref/test_ref NAME...   only this program, every check (no fail fast):
                                                which checks of one program catch these mutants
    /usr/bin/python3 tools/mutate.py --check    only check that every mutant applies exactly once
    --mutants FILE (first): mutants from FILE instead of tools/mutants.txt

The working tree is never modified. Exit status: 0 if at least 95% of the mutants were killed.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROGRAMS = ["test_r1", "ref/test_ref", "tools/test_cuda"]  # in this order: the fastest killers first
COPY = ["r1.c", "r1.cu", "test_r1.c", "Makefile", "ref/test_ref.c", "ref/r1_ref.py", "tools/check.h",
        "tools/cuda_emu.h", "tools/test_cuda.c"]
TARGET_SCORE = 0.95


def read_mutants(path):
    """[(name, description, find, replace)] from the "== name: description" / "- " / "+ " format"""
    mutants, cur = [], None
    for lineno, line in enumerate(open(path).read().split("\n"), 1):
        if line.startswith("== "):
            m = re.match(r"== ([\w.-]+): (.+)$", line)
            if not m:
                sys.exit(f"mutate: {path}:{lineno}: expected '== name: description'")
            cur = [m.group(1), m.group(2), [], []]
            mutants.append(cur)
        elif line.startswith("- ") or line.startswith("+ "):
            if cur is None:
                sys.exit(f"mutate: {path}:{lineno}: a - or + line before any '== name: description'")
            cur[2 if line[0] == "-" else 3].append(line[2:])
        elif line.strip() and not line.startswith("#"):
            sys.exit(f"mutate: {path}:{lineno}: not a mutant line: {line!r}")
    names = [m[0] for m in mutants]
    for name in names:
        if names.count(name) > 1:
            sys.exit(f"mutate: {path}: mutant {name} is defined twice")
    return [(n, d, "\n".join(f), "\n".join(r)) for n, d, f, r in mutants]


def apply(source, mutant):
    name, _, find, replace = mutant
    count = source.count(find) if find else 0
    if count != 1:
        sys.exit(f"mutate: mutant {name}: its text occurs {count} times in r1.c, not exactly once:\n{find}")
    return source.replace(find, replace)


def run(cmd, cwd, timeout, env=None):
    """(exit status or None on timeout, combined output)"""
    try:
        p = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=timeout, text=True, errors="replace")
        return p.returncode, p.stdout
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
        return None, out


def first_failure(output):
    for line in output.split("\n"):
        if line.startswith("FAIL"):
            return line[:200]
    tail = [line for line in output.split("\n") if line.strip()][-1:]
    return (tail[0] if tail else "(no output)")[:200]


def test_copy(work, source, limits, env, programs=PROGRAMS):
    """builds and runs the programs on source; returns (killed by or None, detail, seconds per program)"""
    with open(os.path.join(work, "r1.c"), "w") as f:
        f.write(source)
    times = {}
    for prog in programs:
        status, out = run(["make", "--no-print-directory", "OPT=-O2", prog], work, 600)
        if status != 0:
            sys.exit(f"mutate: make {prog} failed on a mutant of r1.c (the mutant must be a valid program):\n{out}")
        t0 = time.time()
        status, out = run(["./" + prog], work, limits.get(prog), env)
        times[prog] = time.time() - t0
        if status is None:
            return prog, f"timed out after {limits[prog]:.0f} s", times
        if status != 0:
            fails = [line[:160] for line in out.split("\n") if line.startswith("FAIL")]
            return prog, "\n      ".join(fails) if env.get("R1_TEST_FAILFAST") != "1" else first_failure(out), times
    return None, "", times


def main():
    args, only, path = sys.argv[1:], None, os.path.join(ROOT, "tools", "mutants.txt")
    if args[:1] == ["--mutants"] and len(args) > 1:
        path, args = args[1], args[2:]
    if args[:1] == ["--only"]:
        if len(args) < 2 or args[1] not in PROGRAMS:
            sys.exit(f"mutate: --only takes one of {', '.join(PROGRAMS)}")
        only, args = args[1], args[2:]
    mutants = read_mutants(path)
    original = open(os.path.join(ROOT, "r1.c")).read()
    for m in mutants:
        apply(original, m)  # every mutant applies exactly once, before anything runs
    if args == ["--check"]:
        print(f"mutate: all {len(mutants)} mutants apply exactly once to r1.c")
        return 0
    if args:
        unknown = [a for a in args if a not in [m[0] for m in mutants]]
        if unknown:
            sys.exit(f"mutate: unknown mutant {unknown[0]} (see tools/mutants.txt)")
        mutants = [m for m in mutants if m[0] in args]
    env = dict(os.environ, OMP_NUM_THREADS="1", R1_TEST_FAILFAST="0" if only else "1", OMP_WAIT_POLICY="passive")
    programs = [only] if only else PROGRAMS
    work = tempfile.mkdtemp(prefix="r1_mutate.")
    try:
        for f in COPY:
            os.makedirs(os.path.dirname(os.path.join(work, f)) or work, exist_ok=True)
            shutil.copy(os.path.join(ROOT, f), os.path.join(work, f))
        os.symlink(os.path.join(ROOT, "tiny_data"), os.path.join(work, "tiny_data"))
        t0 = time.time()
        killer, detail, times = test_copy(work, original, {}, env, programs)
        if killer:
            print(f"mutate: the unmodified copy of r1.c fails {killer}: {detail}")
            return 1
        print("mutate: the unmodified copy passes the suite (" +
              ", ".join(f"{p} {t:.1f} s" for p, t in times.items()) + ")", flush=True)
        limits = {p: max(60.0, 4 * t) for p, t in times.items()}
        survivors = []
        for i, m in enumerate(mutants, 1):
            t1 = time.time()
            killer, detail, _ = test_copy(work, apply(original, m), limits, env, programs)
            took = time.time() - t1
            if killer:
                print(f"[{i:2d}/{len(mutants)}] killed    {m[0]} ({took:.0f} s) by {killer}: {detail}", flush=True)
            else:
                survivors.append(m)
                print(f"[{i:2d}/{len(mutants)}] SURVIVED  {m[0]} ({took:.0f} s): {m[1]}", flush=True)
        killed = len(mutants) - len(survivors)
        score = killed / len(mutants)
        print(f"\nsurvivors: {', '.join(m[0] for m in survivors) if survivors else 'none'}")
        print(f"mutation score: {killed} of {len(mutants)} mutants killed ({100 * score:.1f}%), "
              f"{(time.time() - t0) / 60:.1f} minutes")
        return 0 if score >= TARGET_SCORE else 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
