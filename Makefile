# Two commands for a new user: `make run` and `make test`. Everything they need is installed here.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The browser tests drive this Chromium (Debian's package); Playwright's own browser download is not used.
CHROMIUM ?= /usr/bin/chromium
AXE := node_modules/axe-core/axe.min.js

.PHONY: run test test-fast install lint clean bench bench-scale browser-deps translations messages

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP) translations

# The page languages (launch/language.py): catalogues in lti_tool/translations, one .po per language, kept
# in git; the compiled .mo files and the generated right-to-left pseudo-locale are built here, not committed.
TRANSLATIONS := lti_tool/translations
PSEUDO_PO := $(TRANSLATIONS)/ar@pseudo/LC_MESSAGES/messages.po
CATALOGUES := $(sort $(wildcard $(TRANSLATIONS)/*/LC_MESSAGES/messages.po) $(PSEUDO_PO))

translations: $(STAMP) $(CATALOGUES:.po=.mo)

$(PSEUDO_PO): $(TRANSLATIONS)/messages.pot $(TRANSLATIONS)/pseudolocalize.py
	$(BIN)/python -m lti_tool.translations.pseudolocalize $< $@

$(TRANSLATIONS)/%/LC_MESSAGES/messages.mo: $(TRANSLATIONS)/%/LC_MESSAGES/messages.po
	$(BIN)/pybabel --quiet compile -i $< -o $@

# After marking new strings: extract them into messages.pot and merge them into every language's .po (then
# translate the new entries, and `make translations`).
messages: $(STAMP)
	$(BIN)/python -m babel.messages.frontend --quiet extract -F $(TRANSLATIONS)/babel.cfg --add-location=file --sort-by-file -k lazy_gettext -k _l \
		--project=lti-tool -o $(TRANSLATIONS)/messages.pot .
	$(BIN)/pybabel --quiet update --no-fuzzy-matching --ignore-obsolete -i $(TRANSLATIONS)/messages.pot -d $(TRANSLATIONS) -l es
	$(BIN)/pybabel --quiet update --no-fuzzy-matching --ignore-obsolete -i $(TRANSLATIONS)/messages.pot -d $(TRANSLATIONS) -l fr

run: $(STAMP) translations
	LTI_TOOL_DEMO_PLATFORM=$${LTI_TOOL_DEMO_PLATFORM:-1} LTI_TOOL_SCHEMA_MODE=$${LTI_TOOL_SCHEMA_MODE:-upgrade} $(BIN)/lti-tool serve

# What the browser tests need beyond Python: Chromium (apt, only when missing and we are root with apt) and
# axe-core (npm, the version pinned in package-lock.json). When either cannot be had the browser tests skip
# and say why; under CI=true they fail.
browser-deps: $(AXE)
	@if [ -x "$(CHROMIUM)" ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "Installing Debian's chromium for the browser tests..."; \
		{ DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
		  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
		|| echo "warning: chromium could not be installed; the browser tests will skip (and fail under CI=true)"; \
	else \
		echo "warning: no $(CHROMIUM) and no root apt-get to install it; the browser tests will skip"; \
	fi

$(AXE): package.json package-lock.json
	@if ! command -v npm >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "Installing Debian's npm for axe-core..."; \
		DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >/dev/null || true; \
	fi
	@if command -v npm >/dev/null 2>&1; then \
		npm ci --no-audit --no-fund --loglevel=error && touch $@ \
		|| echo "warning: npm ci failed; the browser tests will skip (and fail under CI=true)"; \
	else \
		echo "warning: no npm; the browser tests will skip (and fail under CI=true)"; \
	fi

# Everything: lint, then every test (SQLite and PostgreSQL, browser, slow). CI runs this.
test: $(STAMP) translations browser-deps lint
	$(BIN)/python -m pytest -q -n $${PYTEST_WORKERS:-auto} --dist loadgroup

# The inner loop: SQLite only (tests marked `postgres` deselected; LTI_TEST_NO_POSTGRES skips any other that
# would reach it), no browser tests, none marked `slow`, and 5 cases per fuzz test instead of 25.
test-fast: $(STAMP) translations
	LTI_TEST_NO_POSTGRES=1 LTI_FUZZ_EXAMPLES=$${LTI_FUZZ_EXAMPLES:-5} $(BIN)/python -m pytest -q \
		-n $${PYTEST_WORKERS:-auto} --dist worksteal --ignore=tests/browser -m "not postgres and not slow"

bench: $(STAMP)
	$(BIN)/python bench/launch_bench.py

bench-scale: $(STAMP)
	$(BIN)/python bench/scale_bench.py

lint: $(STAMP)
	$(BIN)/ruff check lti_tool tests bench
	$(BIN)/ruff format --check lti_tool tests bench
	$(BIN)/mypy lti_tool

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache node_modules test-artifacts
