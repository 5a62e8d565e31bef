# The README's two commands. Each sets up what is missing first (tools/setup_env.sh
# is idempotent: seconds when the environment is already there).
PY := .venv/bin/python

.PHONY: setup demo test test-device mutation
setup:
	@bash tools/setup_env.sh

demo: setup
	$(PY) tools/demo.py

# Two workers on two cores, a test module per worker at a time (its
# module-scoped trainings run once); tests/conftest.py gives each one thread.
test: setup
	$(PY) -m pytest -n auto --dist loadscope

# The device tier alone (tests/test_device): CPU here, CUDA too where present.
test-device: setup
	$(PY) -m pytest -m device tests/test_device

# Mutation testing (docs/testing.md): not part of `make test` or CI.
mutation: setup
	$(PY) -m pip install -q --disable-pip-version-check -e '.[dev]' --no-build-isolation
	bash tools/mutation.sh
