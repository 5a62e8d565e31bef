# The README's two commands. Each sets up what is missing first (tools/setup_env.sh
# is idempotent: seconds when the environment is already there).
PY := .venv/bin/python

.PHONY: setup demo test
setup:
	@bash tools/setup_env.sh

demo: setup
	$(PY) tools/demo.py

test: setup
	$(PY) -m pytest
