# ppo-bench: every target creates .venv and installs the pinned stack into it when missing.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CORES ?= 2

.PHONY: help venv zoo-venv peers system-deps test test-slurm test-fast lint benchmark rerun benchmark-speed report publish dashboard lock clean clean-cache
# Jobs call `python -m ppo`: put the venv first on PATH for Snakemake and its jobs.
export PATH := $(CURDIR)/$(BIN):$(PATH)
export SDL_VIDEODRIVER ?= dummy

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.lock
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

venv: $(STAMP)  ## create .venv with the pinned stack

# Debian packages, installed when missing (apt needs root): Chromium and its driver for the browser test of the
# HTML report; Mesa's EGL (libEGL through glvnd, the Mesa vendor, the software rasterizer) for MuJoCo's
# headless renderer (MUJOCO_GL=egl; `libosmesa6` is the fallback for MUJOCO_GL=osmesa); PostgreSQL's server for
# the test of tuning workers on a database (tests/test_postgres.py starts its own, as an unprivileged user).
PG_OK := compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null
EGL_OK := test -e /usr/share/glvnd/egl_vendor.d/50_mesa.json && ldconfig -p | grep -q 'libEGL.so.1 ' && ldconfig -p | grep -q 'libOpenGL.so.0 '
system-deps:  ## install the Debian packages the tests need, when missing
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null && $(EGL_OK) && $(PG_OK) || { \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	    chromium chromium-driver fonts-dejavu-core libegl1 libegl-mesa0 libgl1-mesa-dri libopengl0 libglx-mesa0 \
	    postgresql; }

lint: $(STAMP)  ## ruff, snakemake --lint, snakefmt --check
	$(BIN)/ruff check ppo tests
	$(BIN)/ruff format --check ppo tests
	$(BIN)/snakemake --lint
	$(BIN)/snakefmt --check Snakefile workflow/rules/*.smk

test: lint system-deps  ## the whole test suite (what CI runs)
	$(BIN)/python -m pytest

SLURM_STAMP := $(VENV)/.installed-slurm
$(SLURM_STAMP): $(STAMP)
	$(BIN)/pip install --quiet snakemake-executor-plugin-slurm==2.8.0 snakemake-executor-plugin-slurm-jobstep==0.6.1
	touch $@

test-slurm: $(SLURM_STAMP)  ## the tiny workflow on a real single-node SLURM cluster started here (root, Debian)
	timeout 1200 bash tests/slurm/run-cluster-test.sh

test-fast: $(STAMP)  ## the tests not marked slow, while editing
	$(BIN)/python -m pytest -m "not slow"

peers: $(STAMP) $(ZOO_STAMP)  ## config/peers.yaml: ppo-bench's PPO, SB3's and rl-zoo3's own trainer side by side
	$(BIN)/snakemake --cores $(CORES) --configfile config/peers.yaml

benchmark: $(STAMP)  ## the full default benchmark, report included (CORES=2)
	$(BIN)/snakemake --cores $(CORES)

CONFIG ?= config/config.yaml
rerun: $(STAMP)  ## retrain one env from scratch, then its reports: make rerun ENV=CartPole-v1 [AGENT=ppo] [CONFIG=...]
	@test -n "$(ENV)" || { echo "make rerun needs ENV=<env id>, e.g. make rerun ENV=CartPole-v1 [AGENT=ppo]" >&2; exit 2; }
	$(BIN)/python -m ppo rerun --configfile $(CONFIG) --env $(ENV) $(if $(AGENT),--agent $(AGENT)) --cores $(CORES)

REPEATS ?= 3
benchmark-speed: $(STAMP)  ## training speed vs the raw env and Stable-Baselines3 (REPEATS=3); rewrites the table in docs/speed.md
	$(BIN)/python -m ppo bench --repeats $(REPEATS) --out results/benchmarks/speed.json --readme docs/speed.md

report: benchmark  ## the report (runs whatever of the benchmark is missing)

publish: report  ## public/: a static site (index.html at its root) and public/report.zip
	rm -rf public && mkdir -p public
	cp -r report/index.html report/README.md report/figures report/media report/envs public/
	$(BIN)/snakemake --report public/report.zip

# rl-baselines3-zoo's own trainer (an external agent of config/peers.yaml, examples/rl_zoo3/train.sh) in an
# environment of its own, as a user's program would have: its requirements need not fit ppo-bench's pins.
ZOO_VENV := .venv-zoo
ZOO_STAMP := $(ZOO_VENV)/.installed
$(ZOO_STAMP): examples/rl_zoo3/requirements.lock
	test -x $(ZOO_VENV)/bin/python || $(PYTHON) -m venv $(ZOO_VENV)
	$(ZOO_VENV)/bin/pip install --quiet torch==2.13.0
	$(ZOO_VENV)/bin/pip install --quiet -r examples/rl_zoo3/requirements.lock
	touch $@

zoo-venv: $(ZOO_STAMP)  ## .venv-zoo: rl-zoo3 2.9.2 for the zoo-cli agent of config/peers.yaml

DASHBOARD_STAMP := $(VENV)/.installed-dashboard
$(DASHBOARD_STAMP): $(STAMP)
	$(BIN)/pip install --quiet optuna-dashboard==0.21.0
	touch $@

PORT ?= 8080
dashboard: $(DASHBOARD_STAMP)  ## a tuning study in the browser: make dashboard STUDY=<name> [STORAGE=<journal or URL>] [PORT=8080]
	@test -n "$(STUDY)$(STORAGE)" || { echo "make dashboard needs STUDY=<name> (results/tuning/<name>/study.journal) or STORAGE=<path or URL>" >&2; exit 2; }
	$(BIN)/optuna-dashboard --port $(PORT) $(or $(STORAGE),results/tuning/$(STUDY)/study.journal)

lock: $(STAMP)  ## regenerate requirements.lock from the current .venv
	{ head -2 requirements.lock; $(BIN)/pip freeze | grep -v -E '^(-e|ppo-bench|# Editable)' | sed 's/^torch==2.13.0+cpu$$/torch==2.13.0/'; } > requirements.lock.new
	mv requirements.lock.new requirements.lock

clean:  ## remove generated results (keeps .venv and the compile cache; make clean-cache removes that too)
	if [ -d results ]; then find results -mindepth 1 -maxdepth 1 ! -name compile-cache -exec rm -rf {} +; fi
	rm -rf .snakemake report/figures report/media report/envs report/index.html report/README.md

clean-cache:  ## remove torch.compile's cache (results/compile-cache): the next compiled run compiles cold
	rm -rf results/compile-cache
