# twophase: build the book and run the tests on a fresh machine with Python 3.11.
#   make book                                    set up .venv, run every chapter at the cpu profile (a cold run:
#                                                its wall times go to book/run_times.json), build _build/html
#   make test                                    set up .venv, check the style (ruff), run pytest with nbval on
#                                                the smoke baselines (the project's test command)
#   make chapter NB=notebooks/01_chaos_effect.py PROFILE=smoke [PARAMS="-p key value"]
#                                                one chapter; cpu -> book/chapters/, smoke -> _build/chapters/smoke/
#                                                (never tests/baselines/), gpu -> artifacts/gpu/,
#                                                paper -> artifacts/paper/, ladder (chapter 7 only) -> artifacts/ladder/
#   make baselines [NB=notebooks/01_chaos_effect.py]
#                                                regenerate the smoke baselines in tests/baselines/ (every chapter,
#                                                or NB only); the only target that writes them
#   make across-machines [CAPABILITIES="native avx2 default"]
#                                                chapters 1-3 at cpu under several numerics fingerprints (ATen
#                                                dispatch levels) -> book/across_machines.json (the "Across machines" page)
#   make html                                    build the HTML from the already executed notebooks only
#   make clean                                   remove build outputs (keeps .venv and the result cache)

PYTHON  ?= python3
VENV    := .venv
VPY     := $(VENV)/bin/python
STAMP   := $(VENV)/.installed
PROFILE ?= cpu
NB      ?=
PARAMS  ?=
CAPABILITIES ?= native avx2 default
# The tests that depend on rounding run a second time under another ATen dispatch level than this CPU's own
# (avx2 on an AVX-512 machine, default otherwise): the suite must hold on any CPU (README, "Numerics"). Of the
# smoke chapters, the two whose numbers chaos amplifies most directly (the twins' maps; a user's batch-norm CNN)
# run again, to keep the suite within its time.
# nbval compares them through tests/nbval/other-cpu.cfg there (tests/conftest.py picks it by fingerprint).
VARIANT_TESTS := tests/baselines/01_chaos_effect.ipynb tests/baselines/05_your_own_model.ipynb \
	tests/test_numerics.py tests/test_training.py tests/test_perturbation.py

# Results cache of twophase_lib, and no tqdm progress bars in executed notebooks.
export TWOPHASE_CACHE ?= $(CURDIR)/.cache/twophase
export TQDM_DISABLE := 1

.PHONY: all setup book html chapters chapter baselines test clean chromium across-machines
.DELETE_ON_ERROR:

all: book

setup: $(STAMP)

# (Re)install when pyproject.toml changes. The python3 kernelspec is written into the venv
# (--sys-prefix) with the venv's interpreter, so papermill and the smoke test run chapters in this venv.
$(STAMP): pyproject.toml constraints.txt
	test -x $(VPY) || $(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install -c constraints.txt -e '.[book,test,ray,beyond]'
	$(VPY) -m ipykernel install --sys-prefix --name python3
	touch $@

chapters: $(STAMP)
	$(VPY) scripts/run_chapters.py --profile cpu

# --all: Sphinx does not re-emit the warnings of pages it does not re-read, so an incremental
# build would pass -W after a failed one; rebuilding everything takes a few seconds.
html: $(STAMP)
	$(VPY) scripts/make_scorecard.py
	$(VENV)/bin/jupyter-book build . --all -W -n --keep-going

# --record-time: make book is the cold run whose wall times the re-run page shows (book/run_times.json keeps
# the last recorded run per chapter and profile).
book: $(STAMP)
	$(VPY) scripts/run_chapters.py --profile cpu --record-time
	$(VPY) scripts/make_scorecard.py
	$(VENV)/bin/jupyter-book build . --all -W -n --keep-going

chapter: $(STAMP)
	@test -n "$(NB)" || { echo "usage: make chapter NB=notebooks/NN_name.py [PROFILE=smoke|cpu|gpu|paper|ladder] [PARAMS='-p key value']"; exit 2; }
	$(VPY) scripts/run_chapters.py --profile $(PROFILE) $(PARAMS) $(NB)

# The smoke baselines nbval re-executes (make test) are regenerated only here (make chapter PROFILE=smoke leaves them alone).
baselines: $(STAMP)
	$(VPY) scripts/run_chapters.py --profile smoke --update-baselines $(NB)

# The browser check needs Debian's chromium; install it when we can (root + apt), else its test skips
# (and fails under CI=true).
# A machine image can come with dpkg left half-configured ("dpkg was interrupted"), which makes every
# apt-get install fail: finish it first (CI failed on that once), and try the install twice.
chromium:
	@command -v chromium >/dev/null || { (dpkg --configure -a >/dev/null 2>&1; apt-get update -qq \
	  && { apt-get install -y -qq chromium >/dev/null || apt-get install -y -qq chromium >/dev/null; }) \
	  || echo "make: could not install chromium; the browser test will be skipped"; }

# pytest-xdist runs the suite on every core (every computation is single-threaded: COMPUTE_THREADS); --dist loadscope
# keeps each notebook's cells (and each test module) on one worker, in order, as nbval needs. A worker that dies is
# not replaced (--max-worker-restart=0): under loadscope xdist 3.8 can hang after replacing a crashed worker
# (pytest-dev/pytest-xdist#1323, #1363; seen here once), and a hang would run CI into its cap with no report.
XDIST := -n auto --dist loadscope --max-worker-restart=0

test: $(STAMP) chromium
	$(VENV)/bin/ruff check .
	$(VPY) -m pytest $(XDIST) --nbval-lax
	@variant=$$($(VPY) -c "import torch; print('avx2' if torch.backends.cpu.get_cpu_capability() == 'AVX512' else 'default')"); \
	  echo "make test: again under ATEN_CPU_CAPABILITY=$$variant (other kernels, other rounding)"; \
	  ATEN_CPU_CAPABILITY=$$variant $(VPY) -m pytest $(XDIST) --nbval-lax $(foreach t,$(VARIANT_TESTS),'$(t)')

across-machines: $(STAMP)
	$(VPY) scripts/across_machines.py --profile cpu --capabilities $(CAPABILITIES)
	$(VPY) scripts/make_scorecard.py

clean:
	rm -rf _build .pytest_cache *.egg-info
	find . \( -path ./$(VENV) -o -path ./.git \) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +
