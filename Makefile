# Thin wrappers over scripts/; see README.md.
.PHONY: venv demo test lint bench lock mutate

venv:
	scripts/venv.sh

demo: venv
	scripts/demo.sh

test: venv
	scripts/test.sh

# ruff, then mypy on the provider, the DAGs and the sandbox (pyproject.toml's [tool.mypy] says what and how strictly).
lint: venv
	.venv/bin/ruff check . && .venv/bin/ruff format --check . && .venv/bin/mypy

bench: venv
	scripts/bench.sh

# requirements.in / requirements-dev.in -> requirements.txt / requirements-dev.txt (UPGRADE=1 moves pins)
lock:
	scripts/lock.sh

# Mutation testing of the critical modules (slow; not in `make test`): docs/mutation.md.
mutate: venv
	scripts/mutate.sh
