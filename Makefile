# gfn-teach: build the book, run every test.
#   make book   strict HTML build of the book into _build/html
#   make test   unit tests, every chapter run in a Colab-like venv from the built wheel and
#               compared with its committed outputs by nbval (under a last-bits perturbation),
#               strict book build, browser test; checks whose inputs are unchanged since they
#               passed are skipped (FRESH=1 make test runs everything)
#   make train  train a DB GFlowNet on the 2D 20x20 grid from the command line (runs/db2d)
#   make profile-chapters  where each chapter's time goes: XLA compiling, or the rest
#   make bench  side-by-side benchmark vs gfnx and torchgfn (builds their venvs; about 30 min)
#   make clean  remove build outputs (keeps .venv; `make distclean` removes it too)
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:

PYTHON   ?= python3
VENV     := .venv
BIN      := $(VENV)/bin
STAMP    := $(VENV)/.installed
# The browser test's Chromium; CI elsewhere may point it at another Chromium build.
CHROMIUM ?= /usr/bin/chromium
export GFN_CHROMIUM := $(CHROMIUM)
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# MathJax 3, from the npm registry, served by the book itself (no CDN).
MATHJAX_VERSION := 3.2.2
MATHJAX_SITE    := .cache/mathjax-site
MATHJAX_DIR     := $(MATHJAX_SITE)/_static/mathjax
MATHJAX_STAMP   := $(MATHJAX_DIR)/.installed-$(MATHJAX_VERSION)

# Kernels: the venv's "python3" kernelspec (shipped by ipykernel; its argv "python"
# is the running venv interpreter) wins over any user-level one.
export JUPYTER_PATH := $(CURDIR)/$(VENV)/share/jupyter
export JUPYTER_PLATFORM_DIRS := 1
export PYDEVD_DISABLE_FILE_VALIDATION := 1
export PYTHONHASHSEED := 0
export PIP_DISABLE_PIP_VERSION_CHECK := 1

# Every JAX process of a run (unit tests, their subprocesses, the chapters' kernels) shares one
# persistent compilation cache, in this checkout's own folder: a program that another process
# already compiled is loaded instead of compiled again. Every program, however quick to compile:
# a chapter runs a few hundred eager operations, each compiled in about 18 ms on this 2-core CPU
# and loaded in about 5 ms by the next chapter that runs it on the same shapes (one run of the
# whole book, one chapter at a time, one run each: about 290 s with every program cached, about
# 310 s with only those over 0.1 s, about 350 s with no cache; chapters 6, 7 and 12 two at a
# time in the Colab-like venv: 131-143 s against 141-150 s, within this machine's noise).
# A second run finds every program there: the whole book, one chapter at a time, took 264 s into
# an empty cache and then 161 s from it, XLA compiling 127 s and then 12 s (2026-12-05,
# tests/profile_chapters.py --cache-dir DIR, run twice). So a make test that re-executes a chapter
# whose code changed little compiles little of it again.
# The benchmark's runs never use it (benchmarks/compare.py).
export JAX_COMPILATION_CACHE_DIR := $(CURDIR)/.cache/jax-compilation-cache
export JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS := 0
# nbval re-executes the chapters under a perturbation that moves the last bits of compiled CPU
# results, as another processor does (XLA restricted to SSE4.2 vectors, and fast maths): the
# committed outputs and the chapters' asserted claims must survive it, so the test passes on
# any machine. tests/test_perturbation.py checks that it does move a training run's numbers.
PERTURBATION := --xla_cpu_max_isa=SSE4_2 --xla_cpu_enable_fast_math=true

# The strict build renders the committed outputs (execute_notebooks: off in _config.yml), which
# nbval has checked against a fresh execution: the page shows the notebook's own numbers.
BOOK_BUILD := $(BIN)/jupyter-book build . --all -W -n --keep-going
NOTEBOOKS  := $(wildcard book/*.ipynb)

.PHONY: help install prepare execute profile-chapters book mathjax chromium test test-unit test-chapters test-nbval test-book test-browser train bench clean distclean

help:
	@echo "make book   - build the book (strict) into _build/html"
	@echo "make execute - execute chapters in place (CHAPTERS=book/NN_*.ipynb; default all)"
	@echo "make profile-chapters - where each chapter's time goes: compiling or the rest (CHAPTERS=...)"
	@echo "make test   - unit tests, every chapter run from the wheel in a Colab-like venv and compared (nbval), strict book build, browser test"
	@echo "make train  - python -m gfn_teach train ... --out runs/db2d (prints exact TV)"
	@echo "make bench  - benchmark vs gfnx and torchgfn -> benchmarks/results/latest.md"
	@echo "make clean  - remove _build and caches (make distclean also removes .venv)"

# ---------------------------------------------------------------- environment
$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -r requirements.txt
	touch $@

install: $(STAMP)

prepare: $(STAMP) $(MATHJAX_STAMP) chromium
	$(BIN)/python tests/colab_like.py --prepare

$(MATHJAX_STAMP):
	rm -rf $(MATHJAX_SITE) .cache/npm
	mkdir -p .cache/npm $(MATHJAX_DIR)
	cd .cache/npm && npm pack --silent mathjax@$(MATHJAX_VERSION)
	tar -xzf .cache/npm/mathjax-$(MATHJAX_VERSION).tgz -C $(MATHJAX_DIR) --strip-components=1 package/es5
	test -f $(MATHJAX_DIR)/es5/tex-chtml-full.js
	test -d $(MATHJAX_DIR)/es5/output/chtml/fonts/woff-v2
	touch $@

mathjax: $(MATHJAX_STAMP)

# Debian's Chromium for the browser test, from apt (as root; sudo only when not root).
# Never a downloaded browser build.
chromium:
	@if [ ! -x $(CHROMIUM) ]; then \
	  $(SUDO) apt-get update && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; \
	fi
	@$(CHROMIUM) --version 2>/dev/null

# ---------------------------------------------------------------- book
book: $(STAMP) $(MATHJAX_STAMP)
	$(BOOK_BUILD)

# Execute chapters in place (their committed outputs are what the book shows and nbval compares):
#   make execute CHAPTERS=book/05_trajectory_balance.ipynb   (default: every chapter)
# Without the compilation cache: the runtime lines it writes are what a reader's first run costs.
execute: $(STAMP)
	env -u JAX_COMPILATION_CACHE_DIR $(BIN)/python tests/execute.py $(CHAPTERS)

# Where each chapter's time goes (XLA compiling or the rest), per chapter, cell and compiled
# function; run as make execute runs the chapters, nothing written back (CHAPTERS=...; default all).
profile-chapters: $(STAMP)
	$(BIN)/python tests/profile_chapters.py $(CHAPTERS)

# ---------------------------------------------------------------- tests
# What the later checks install (the Colab-like venv, MathJax, Chromium) is mostly download and
# unpacking: it is prepared in the background while the unit tests keep both cores busy.
test: $(STAMP)
	@mkdir -p .cache; \
	$(MAKE) --no-print-directory prepare > .cache/prepare.log 2>&1 & prepare=$$!; \
	$(MAKE) --no-print-directory test-unit; unit=$$?; \
	wait $$prepare || { echo "preparing the later checks failed:"; cat .cache/prepare.log; exit 1; }; \
	test $$unit = 0
	$(MAKE) --no-print-directory test-chapters
	$(MAKE) --no-print-directory test-book
	$(MAKE) --no-print-directory test-browser

# Skipped when nothing it reads changed since it passed here (tests/unchanged.py; FRESH=1 reruns).
# After an edit of book/ alone (a chapter's prose, say), only the tests that read book/ run:
# the others passed on the same inputs. tests/test_unchanged.py checks that BOOK_TESTS names
# every test file that reads the chapters.
UNIT_INPUTS := gfn_teach tests benchmarks _static requirements.txt pyproject.toml README.md Makefile
BOOK_TESTS  := tests/test_colab_cell.py tests/test_page_harness.py tests/test_plain_markdown.py \
               tests/test_prose_numbers.py tests/test_unchanged.py
test-unit: $(STAMP)
	@fingerprint="$(BIN)/python tests/unchanged.py fingerprint"; \
	passed="$(BIN)/python tests/unchanged.py passed"; mark="$(BIN)/python tests/unchanged.py mark"; \
	without_book=$$($$fingerprint unit $(UNIT_INPUTS)); with_book=$$($$fingerprint unit+book $(UNIT_INPUTS) book); \
	if $$passed $$with_book; then \
	  echo "unit tests: unchanged since they passed ($$with_book), skipped (FRESH=1 reruns them)"; \
	elif $$passed $$without_book; then \
	  echo "unit tests: only book/ changed since they passed; running the tests that read it"; \
	  $(BIN)/python -m pytest $(BOOK_TESTS) -q -p no:cacheprovider && $$mark $$with_book; \
	else \
	  $(BIN)/python -m pytest tests --ignore=tests/browser -q -n 2 --durations=15 && \
	  $$mark $$without_book && $$mark $$with_book; \
	fi

# Every chapter as a Colab reader runs it (Colab's versions, venv cached in .cache/colab-venv; the
# project installed from its built wheel; each chapter alone in an empty folder), executed and
# compared with its committed outputs by nbval, under the perturbation. The committed outputs come
# from requirements.txt's jax (make execute): the comparison also crosses jax versions.
test-chapters: $(STAMP)
	@test -n "$(NOTEBOOKS)" || { echo "no notebooks in book/"; exit 1; }
	XLA_FLAGS="$(PERTURBATION)" $(BIN)/python tests/colab_like.py

# Not part of make test: nbval in this checkout's own venv (editable install, requirements.txt's
# versions), a quicker check while editing a chapter (CHAPTERS=book/NN_*.ipynb; default all).
test-nbval: $(STAMP)
	XLA_FLAGS="$(PERTURBATION)" $(BIN)/python tests/run_nbval.py $(CHAPTERS)

test-book: book

test-browser: $(STAMP) chromium
	@test -f _build/html/index.html || { echo "run 'make book' first"; exit 1; }
	$(BIN)/python -m pytest tests/browser -q -p no:cacheprovider

# ---------------------------------------------------------------- command line
train: $(STAMP)
	$(BIN)/python -m gfn_teach train --dim 2 --side 20 --reward easy --loss db --steps 3000 \
	  --batch-size 16 --hidden 256 --depth 2 --lr 1e-3 --seed 0 --out runs/db2d --overwrite

# ---------------------------------------------------------------- benchmark
# Peer venvs under benchmarks/.envs (idempotent), then the alternating side-by-side runs;
# writes benchmarks/results/latest.md and refreshes book/appendix_benchmarks.md.
bench: $(STAMP)
	bash benchmarks/peers/setup_envs.sh
	$(BIN)/python benchmarks/compare.py

# ---------------------------------------------------------------- cleaning
clean:
	rm -rf _build .cache/mathjax-site .cache/npm .pytest_cache
	find . -path ./.venv -prune -o -name __pycache__ -type d -print0 | xargs -0 rm -rf

distclean: clean
	rm -rf $(VENV) .cache
