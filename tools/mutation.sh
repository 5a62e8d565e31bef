#!/usr/bin/env bash
# Mutation testing of the binary core with mutmut 3 (configured in setup.cfg;
# docs/testing.md). Resumable: a second run re-tests only what changed.
# Prints the score and writes every mutant that was not killed, with its
# diff, to work_dirs/mutation/survivors.txt.
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
: > "$out/survivors.txt"
while read -r name status; do
    "${MUTMUT[@]}" show "${name%:}" >> "$out/survivors.txt"
done < "$out/not_killed.txt"
"$PY" - "$out" <<'PYEOF'
import json, sys
s = json.load(open('mutants/mutmut-cicd-stats.json'))
tested = s['killed'] + s['survived'] + s['timeout'] + s['suspicious'] + s['segfault']
print(json.dumps(s))
print(f"killed {s['killed']} of {tested} tested mutants "
      f"({100 * (s['killed'] + s['timeout']) / max(tested, 1):.1f}% with timeouts "
      f"counted as killed); {s['no_tests']} reached by no selected test")
print(f"not killed, with diffs: {sys.argv[1]}/survivors.txt")
PYEOF
