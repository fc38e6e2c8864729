# Two entry points, both self-contained on a fresh machine:
#   make book   install what is needed, build the HTML book into _build/html/index.html
#               and check it as a reader sees it (scripts/check_html.py)
#   make test   install what is needed, lint (ruff), and run the unit tests and every chapter under
#               nbval at the smoke scale (the book scale is checked by make book)
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: book test install clean

$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

book: $(STAMP)
	$(BIN)/jupyter-book build . --all -W --keep-going
	$(BIN)/python scripts/check_html.py _build/html --sources .
	@echo "book: $(CURDIR)/_build/html/index.html"

# The chapters run under nbval at the smoke scale here (seconds each); their book-scale
# asserts run in `make book`, where any failing cell fails the build.
test: $(STAMP)
	$(BIN)/ruff check src tests
	LOGLOSS_SCALE=smoke $(BIN)/python -m pytest

clean:
	rm -rf _build
