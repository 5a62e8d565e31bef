#!/usr/bin/env bash
# Mutation testing of the binary core with mutmut 3 (configured in setup.cfg;
# docs/testing.md). Resumable: a second run re-tests only what changed.
# Prints the score over the mutants not listed as equivalent in
# docs/testing.md, lists every mutant not killed in
# work_dirs/mutation/not_killed.txt and those not listed as equivalent in
# work_dirs/mutation/real_survivors.txt (`mutmut show NAME` prints a diff).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PY=.venv/bin/python
MUTMUT=(env OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 "$PY" -m mutmut)
start=$(date +%s)
"${MUTMUT[@]}" run --max-children "${MUTATION_JOBS:-$(nproc)}"
echo "mutmut ran in $(( $(date +%s) - start )) s"
"${MUTMUT[@]}" export-cicd-stats >/dev/null
out=work_dirs/mutation
mkdir -p "$out"
"${MUTMUT[@]}" results > "$out/not_killed.txt"
"$PY" - "$out" <<'PYEOF'
import glob, json, re, sys
out = sys.argv[1]
s = json.load(open('mutants/mutmut-cicd-stats.json'))
# Equivalent mutants (cannot change behaviour), each with its reason, are
# listed in docs/testing.md between the two markers; they leave the score.
doc = open('docs/testing.md', encoding='utf-8').read()
block = doc.split('<!-- equivalent mutants -->')[1]
equivalent = set(re.findall(r'^(mmbnn\S+__mutmut_\d+)\s', block, re.M))
# Each mutant's exit code (mutants/**/*.py.meta): 1 or 3 the tests failed;
# a timeout (36, SIGXCPU); a crash of the test process by a signal (SIGSEGV,
# SIGABRT, SIGFPE, ...: a mutated pointer or size handed to the native
# library; mutmut calls the rarer ones "suspicious"). The tests detected
# all of these, so they count as killed (as Stryker and PIT count them).
code = {}
for path in glob.glob('mutants/mmbnn/**/*.py.meta', recursive=True):
    code.update(json.load(open(path))['exit_code_by_key'])
timeouts = {-24, 24, 36, 152, 255}
detected = {n for n, c in code.items()
            if c in (1, 3) or c in timeouts or (c is not None and c < 0)}
not_killed = [n for n in sorted(code) if n not in detected]
stale = sorted(equivalent - set(not_killed))
real = [n for n in not_killed if n not in equivalent]
with open(f'{out}/real_survivors.txt', 'w') as f:
    f.write(''.join(n + '\n' for n in real))
total, killed = len(code), len(detected)
print(json.dumps(s))
print(f"{total} mutants, {len(equivalent)} listed as equivalent "
      f"(docs/testing.md), {killed} killed (timeouts and crashes counted as "
      f"killed), {len(real)} not killed ({s['no_tests']} reached by no "
      f"selected test)")
print(f"score: {100 * killed / max(total - len(equivalent), 1):.1f}% of the "
      f"non-equivalent mutants killed")
# By part: the binary core (the scope of the first runs) and the deployment
# side (the XNOR runtime, the packed file, the native library's Python side).
deploy = re.compile(r'^mmbnn\.(deploy\.|ops\.native\.|ops\.xnor_conv\.)')
for part, inside in (('core', lambda n: not deploy.match(n)),
                     ('deploy', lambda n: bool(deploy.match(n)))):
    names = [n for n in code if inside(n)]
    eq = [n for n in names if n in equivalent]
    lost = [n for n in real if inside(n)]
    print(f"  {part}: {len(names)} mutants, {len(eq)} equivalent, "
          f"{len(lost)} not killed: "
          f"{100 * (1 - len(lost) / max(len(names) - len(eq), 1)):.1f}%")
if stale:
    print(f"{len(stale)} listed equivalent mutants no longer survive or exist "
          f"(update docs/testing.md): {', '.join(stale[:5])}")
print(f"not killed, not equivalent: {out}/real_survivors.txt "
      f"(diffs: mutmut show NAME)")
PYEOF
