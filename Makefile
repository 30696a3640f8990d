# The book's commands. `make book` and `make test` do all the set-up on a fresh machine
# (Python 3.10+ and make): they create .venv, install the pinned requirements and mlbook.
SHELL   := /bin/bash
PYTHON  ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
URL     ?=
JOBS    ?=
# A Linux machine without a GPU can take PyTorch's CPU build (about 200 MB instead of
# several GB of CUDA libraries): make book TORCH_INDEX=https://download.pytorch.org/whl/cpu
# (pip then prefers torch==2.13.0+cpu from that index). Empty by default: nothing changes.
TORCH_INDEX ?=
PIP_TORCH := $(if $(TORCH_INDEX),--extra-index-url $(TORCH_INDEX),)
CPU_TORCH_INDEX := https://download.pytorch.org/whl/cpu

.PHONY: help install book test lab bench serve clean clean-all freeze set-repo browser colab-check binder pdf translations

help:
	@echo "make book      build the site into _build/html (executes changed chapters)"
	@echo "make test      build the book, then run the whole test suite"
	@echo "make pdf       print the built site to one PDF, _build/pdf/book.pdf (after make book)"
	@echo "make translations  after an English edit: update locales/zh_CN and list what to re-translate"
	@echo "make lab       open the chapters in JupyterLab"
	@echo "make bench     time every chapter against its budget"
	@echo "make colab-check  run every chapter alone in a bare Python, as Colab would"
	@echo "make serve     serve _build/html on http://127.0.0.1:8000"
	@echo "make set-repo URL=https://github.com/you/repo   set the repository URL everywhere"
	@echo "make clean     remove _build (clean-all also removes .venv)"

$(STAMP): requirements.txt pyproject.toml
	@echo "==> [1/3] creating the virtual environment $(VENV)"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	@echo "==> [2/3] installing the pinned requirements (requirements.txt)"
	$(BIN)/python -m pip install --progress-bar off $(PIP_TORCH) -r requirements.txt
	@echo "==> [3/3] installing mlbook from code/"
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@touch $(STAMP)

install: $(STAMP)

# The chapters that changed execute first, JOBS at a time (default: one per core), into the
# execution cache (scripts/execute_chapters.py); jupyter-book then finds them all there.
# TQDM_DISABLE: in an executed notebook a tqdm bar is a live widget, which a static page can
# only show as its stale "0%|" text fallback; live readers still get their progress bars.
# The execution cache knows a chapter's cells, not the mlbook code they call: when the
# package changes, the cache and Sphinx's saved state are dropped so every chapter re-runs.
# _build/.mlbook-code records which code the cached chapters ran with; it is written before
# executing, so a build that is interrupted (or fails) keeps the chapters it finished.
book: install
	@echo "==> building the book: every changed chapter executes, unchanged ones come from the cache"
	@start=$$(date +%s); \
	code=$$(find code -name '*.py' -type f | LC_ALL=C sort | xargs cat | sha256sum | cut -c1-16); \
	if [ -d _build/.jupyter_cache ] && [ "$$(cat _build/.mlbook-code 2>/dev/null)" != "$$code" ]; then \
	  echo "==> mlbook's code changed since the last build: every chapter executes again"; \
	  rm -rf _build/.jupyter_cache _build/.doctrees _build/zh/_build/.doctrees; \
	fi; \
	mkdir -p _build && echo "$$code" > _build/.mlbook-code; \
	TQDM_DISABLE=1 $(BIN)/python scripts/execute_chapters.py $(if $(JOBS),--jobs $(JOBS),) || exit 1; \
	TQDM_DISABLE=1 $(BIN)/jupyter-book build . --warningiserror --keep-going || exit 1; \
	english=$$(date +%s); \
	echo "==> the Chinese edition: the same notebooks, text from locales/zh_CN, outputs from the cache"; \
	$(BIN)/python scripts/translations.py build _build/zh/src || exit 1; \
	TQDM_DISABLE=1 $(BIN)/jupyter-book build _build/zh/src --path-output _build/zh --warningiserror --keep-going || exit 1; \
	rm -rf _build/html/zh && cp -r _build/zh/_build/html _build/html/zh; \
	echo "==> book built in $$(( $$(date +%s) - start )) s (the Chinese edition $$(( $$(date +%s) - english )) s of it): open _build/html/index.html"

# A Chromium for the browser tests: the system's (Debian: apt-get install chromium) if there
# is one, otherwise the one Playwright downloads.
browser: install
	@if command -v chromium >/dev/null || command -v chromium-browser >/dev/null \
	    || [ -n "$$MLBOOK_CHROMIUM" ] \
	    || ls $${PLAYWRIGHT_BROWSERS_PATH:-$$HOME/.cache/ms-playwright}/chromium* >/dev/null 2>&1; then \
	  echo "==> Chromium found"; \
	else \
	  echo "==> no Chromium found: fetching Playwright's"; \
	  $(BIN)/python -m playwright install chromium; \
	fi

test: book browser pdf
	@echo "==> running the test suite"
	$(BIN)/python -m pytest

# The whole book as one PDF, printed from the built site by headless Chromium (no network):
# _build/pdf/book.pdf, also copied to _build/html/_downloads/book.pdf for the landing page's link;
# the Chinese edition likewise to _build/pdf/book-zh.pdf and _build/html/zh/_downloads/book.pdf.
pdf: browser
	@test -f _build/html/index.html || { echo "no built site in _build/html: run make book first"; exit 2; }
	$(BIN)/python scripts/build_pdf.py
	@if [ -f _build/html/zh/index.html ]; then $(BIN)/python scripts/build_pdf.py --edition zh; fi

# The Chinese edition's catalogues (scripts/translations.py): merge the current English in,
# then list every unit that is untranslated or stale (its English changed since translated).
translations: install
	$(BIN)/python scripts/translations.py update
	-$(BIN)/python scripts/translations.py check

lab: install
	$(BIN)/jupyter lab chapters/

bench: install
	$(BIN)/python benchmarks/chapter_times.py

# Every chapter alone in a fresh venv holding only ipykernel, its setup cell installing
# mlbook from this checkout's committed HEAD (git+file://), as a Colab reader would.
colab-check: install
	$(BIN)/python scripts/colab_check.py

serve:
	$(PYTHON) -m http.server --directory _build/html --bind 127.0.0.1 8000

set-repo: install
	@test -n "$(URL)" || { echo "usage: make set-repo URL=https://github.com/you/repo"; exit 2; }
	$(BIN)/python scripts/set_repo.py "$(URL)"

freeze: install
	@{ head -n 2 requirements.txt; $(BIN)/python -m pip freeze --exclude-editable \
	  | sed -E 's/^torch==([0-9.]+)\+cpu$$/torch==\1/'; } > requirements.txt.new
	mv requirements.txt.new requirements.txt
	$(MAKE) binder

# Binder (repo2docker reads binder/ before the root files): the same pins, with torch from
# PyTorch's CPU wheel index. tests/test_colab.py checks that the two files agree.
binder:
	@{ echo "# Generated from requirements.txt by \`make binder\` (make freeze runs it): the same pins,"; \
	  echo "# with PyTorch's CPU build, so Binder installs no CUDA libraries. Do not edit by hand."; \
	  echo "--extra-index-url $(CPU_TORCH_INDEX)"; \
	  grep -v '^#' requirements.txt | sed -E 's/^torch==([0-9.]+)$$/torch==\1+cpu/'; } > binder/requirements.txt
	@echo "wrote binder/requirements.txt"

clean:
	rm -rf _build

clean-all: clean
	rm -rf $(VENV)
