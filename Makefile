# Two entry points for people (see README.md): `make run` and `make test`.
# Both install what they need on a fresh machine; every step is idempotent.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)

.PHONY: run test lint bench bench-smoke install mediamtx tools clean

run: install mediamtx
	$(BIN)/twin simulate

# lint comes first, so a type error or an unused import fails in seconds, not after the suite.
# The tests in two phases: the non-live ones on two workers (they share nothing), then the
# live ones and the `serial` ones one at a time (a live run wants the machine's cores to itself,
# a benchmark its statistics, a `ray start` head its token file).
test: install lint mediamtx tools
	$(BIN)/pytest -m "not live and not serial" -n 2 --dist loadfile
	$(BIN)/pytest -m "live or serial"
	$(BIN)/twin check scenarios --out out/check --quiet

# mypy --strict over twin/, actors/ and synthetic_streams/; ruff over those, tests/ and bench/:
# its checks (imports sorted, lines within 100 characters) and its formatter (`ruff format`
# rewrites a file as the check wants it). All configured in pyproject.toml.
lint: install
	$(BIN)/mypy
	$(BIN)/ruff check
	$(BIN)/ruff format --check

bench: install mediamtx tools
	$(BIN)/pytest bench --benchmark-only -s

# Every bench at its smoke size (seconds each; `make test` runs them too, tests/test_benches.py).
bench-smoke: install mediamtx tools
	$(BIN)/pytest bench --benchmark-only -s --smoke

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

# MediaMTX, built from its Go module (never committed): see synthetic_streams/install.py.
mediamtx: install
	$(BIN)/python -m synthetic_streams.install

# Test tools from Debian's packages: ffprobe (recorded segments must open in it), a
# headless Chromium (every report.html must render with all its images, offline) and
# Prometheus (a live run's metrics are scraped by the real server; the test starts its own).
tools:
	@command -v ffprobe >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ffmpeg >/dev/null; }
	@command -v chromium >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }
	@command -v prometheus >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus >/dev/null; }

clean:
	rm -rf $(VENV) .cache out .mypy_cache .ruff_cache
