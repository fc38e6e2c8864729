# Two entry points, both self-contained on a fresh machine:
#   make book   install what is needed, build the HTML book into _build/html/index.html
#               and check it as a reader sees it, in headless Chromium too
#               (scripts/check_html.py, scripts/check_explorer.py)
#   make test   install what is needed, lint (ruff), and run the unit tests and every chapter under
#               nbval at the smoke scale (the book scale is checked by make book)
#   make reproduce   re-make every paper-scale run kept in results/ from scratch, into
#               _build/reproduce, and report which measured values differ from the store, in
#               standard errors (python -m logloss reproduce --dry-run lists them with their cost)
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
CHROME := $(VENV)/.chromium

.PHONY: book test install clean reproduce

$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

# Headless Chromium, which scripts/check_html.py drives through Playwright (layout at 1280
# and 412 px, console errors): Debian's package, installed once if missing (needs root;
# otherwise install it yourself). `make test` runs without it (its browser tests skip),
# `make book` does not.
$(CHROME):
	@command -v chromium >/dev/null 2>&1 || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || \
	  { echo "no chromium: install it (apt-get install chromium); scripts/check_html.py needs it"; exit 1; }
	@touch $@

book: $(STAMP) $(CHROME)
	$(BIN)/jupyter-book build . --all -W --keep-going
	$(BIN)/python scripts/check_html.py _build/html --sources .
	$(BIN)/python scripts/check_explorer.py _build/html --out _build/shots
	@echo "book: $(CURDIR)/_build/html/index.html"

# The chapters run under nbval at the smoke scale here (seconds each); their book-scale
# asserts run in `make book`, where any failing cell fails the build.
test: $(STAMP)
	@$(MAKE) --no-print-directory $(CHROME) || echo "test: no chromium, the tests in a browser are skipped"
	$(BIN)/ruff check .
	LOGLOSS_SCALE=smoke $(BIN)/python -m pytest

reproduce: $(STAMP)
	$(BIN)/python -m logloss reproduce

clean:
	rm -rf _build
