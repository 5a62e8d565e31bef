#!/usr/bin/env bash
# Mutation testing of the binary core with mutmut 3 (configured in setup.cfg;
# docs/testing.md). Resumable: a second run re-tests only what changed.
# Prints the score and lists every mutant that was not killed in
# work_dirs/mutation/not_killed.txt (`mutmut show NAME` prints its diff).
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
import json, sys
s = json.load(open('mutants/mutmut-cicd-stats.json'))
tested = s['killed'] + s['survived'] + s['timeout'] + s['suspicious'] + s['segfault']
print(json.dumps(s))
print(f"killed {s['killed']} of {tested} tested mutants "
      f"({100 * (s['killed'] + s['timeout']) / max(tested, 1):.1f}% with timeouts "
      f"counted as killed); {s['no_tests']} reached by no selected test")
print(f"not killed: {sys.argv[1]}/not_killed.txt (diffs: mutmut show NAME)")
PYEOF
