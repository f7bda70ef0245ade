# udiffse_lite: the two commands a newcomer runs are `make demo` and `make test`.
# Every target installs what it needs on a fresh machine (apt packages included).
#
# Torch: on this project's CI machines `pip install torch==2.13.0` gives a local CPU
# build in seconds, while a bare `torch` pulls several GB of CUDA wheels. Override
# with `make TORCH_SPEC="torch==X.Y.Z" ...`. Torch is installed only if the venv
# has none; on Colab use the notebooks' setup cells, which never reinstall torch.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
TORCH_SPEC ?= torch==2.13.0
# where the shipped tiny-ao / tiny-av runs stopped in their 5000-step schedules (see their model cards)
AO_STEPS ?= 1000
AV1_STEPS ?= 2400
AV_STEPS ?= 3000


.PHONY: help venv install system-deps demo test unit notebooks book colab-check corpus lip-encoder robust-av nqe phones noise-prior resynth priors table1 bench clean

help:
	@echo "make demo     enhance built-in noisy examples (installs what it needs)"
	@echo "make test     unit tests + every chapter under nbval + the book (what CI runs)"
	@echo "make book     build the Jupyter Book offline into book/_build/html (chapters at book size)"
	@echo "make colab-check  run chapters 00 and the last from the installed wheel, outside the repository"
	@echo "make corpus   build the 'small' teaching corpus into data/corpus"
	@echo "make priors   re-train and ship the teaching priors (needs the corpus)"
	@echo "make robust-av  re-train the noise-robust AV encoder of re-synthesis (needs the corpus)"
	@echo "make nqe      re-train the neural quality estimator (needs the corpus)"
	@echo "make phones   re-train the phone recogniser behind the phone error rate (needs the corpus)"
	@echo "make resynth  train the re-synthesiser tiny-resynth and its fine-tuned version (needs robust-av)"
	@echo "make noise-prior  train the diffusion noise prior tiny-noise and compare it with NMF (needs the corpus)"
	@echo "make table1   Table I in miniature (needs the corpus and the priors)"

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

venv: $(PY)
	@$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -q "$(TORCH_SPEC)"

install: venv
	$(PY) -m pip install -q -e ".[dev]"
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null

system-deps:
	@if command -v espeak-ng >/dev/null && command -v flite >/dev/null && command -v festival >/dev/null \
		&& command -v mbrola >/dev/null && [ -d /usr/share/mbrola/us1 ] \
		&& [ -f /usr/share/javascript/mathjax/MathJax.js ]; then \
		echo "speech engines already installed"; else bash scripts/install_system_deps.sh; fi

demo: install
	$(PY) -m udiffse_lite demo --out outputs/demo --overwrite

unit: install system-deps
	UDIFFSE_FAST=1 $(PY) -m pytest -q -n auto --durations=5 tests  # one worker per core (pytest-xdist)

notebooks: install
	UDIFFSE_FAST=1 $(PY) scripts/nbcheck.py check
	UDIFFSE_FAST=1 $(PY) scripts/nbcheck.py test

book: install system-deps
	$(PY) scripts/nbcheck.py book

colab-check: install
	TORCH_SPEC="$(TORCH_SPEC)" bash scripts/colab_check.sh $(PYTHON)

# What CI runs. colab-check's wheel and torch-only venv are prepared while the apt packages and
# the project's venv install (side by side too): installs wait on the network and the disk as much
# as on the CPU, and this saves about 2 minutes on a 2-core machine. Its chapters run at the end.
test:
	@dir=$$(mktemp -d /tmp/udiffse-colab-XXXXXX); \
	TORCH_SPEC="$(TORCH_SPEC)" bash scripts/colab_check.sh prepare "$$dir" $(PYTHON) > "$$dir.log" 2>&1 & prep=$$!; \
	$(MAKE) -j2 install system-deps && $(MAKE) unit notebooks book; rc=$$?; \
	wait $$prep; prc=$$?; cat "$$dir.log"; rm -f "$$dir.log"; \
	if [ $$rc -eq 0 ] && [ $$prc -ne 0 ]; then echo "colab-check: preparing the wheel and venv failed"; rc=$$prc; fi; \
	if [ $$rc -eq 0 ]; then bash scripts/colab_check.sh run "$$dir"; rc=$$?; fi; \
	rm -rf "$$dir"; exit $$rc

corpus: install system-deps
	$(PY) -m udiffse_lite corpus --preset small --out data/corpus

# The shipped teaching priors, reproduced step for step (about 4 h on 2 CPU cores, minutes on a GPU).
# Every random choice of training step k depends only on (seed, k), so --steps 1000 reproduces the
# point tiny-av-xattn was warm-started from. Stage 1 is the first shipped audio-only prior (fp32);
# tiny-ao and tiny-av (FiLM) continue from it with bf16, speed perturbation and a cosine schedule;
# tiny-av's last stage (tiny-av-faces2, ~70 min) re-runs the tiny-av-faces recipe for 4,800 steps with seed 1.
CORPUS ?= data/corpus
RUNS ?= runs
# Two lip readers: the first (twelve corpus faces; the robust AV encoder and tiny-av-xattn use its
# features, features/lips) and the shipped one, trained with 80 % of its clips drawn on faces no voice
# has (tiny-av uses its features, features/lips_faces: train clips on a new face each). ~2 + 3 min.
LIP_V1 = udiffse_lite/checkpoints/lip_encoder_v1.pt
lip-encoder: corpus
	$(PY) -m udiffse_lite lip-encoder train --corpus $(CORPUS) --steps 1500 --seed 0 --ckpt $(LIP_V1)
	$(PY) -m udiffse_lite lip-encoder extract --corpus $(CORPUS) --ckpt $(LIP_V1) --features $(CORPUS)/features/lips
	$(PY) -m udiffse_lite lip-encoder train --corpus $(CORPUS) --steps 3000 --seed 0 --p-new-face 0.8 --threads 2
	$(PY) -m udiffse_lite lip-encoder extract --corpus $(CORPUS) --features $(CORPUS)/features/lips_faces \
		--splits train --face random
	$(PY) -m udiffse_lite lip-encoder extract --corpus $(CORPUS) --features $(CORPUS)/features/lips_faces \
		--splits valid test_matched test_mismatched

# the noise-robust AV encoder of re-synthesis (issue 11): about 3 min on 2 CPU cores
robust-av: corpus
	$(PY) -m udiffse_lite lip-encoder extract --corpus $(CORPUS) --ckpt $(LIP_V1) --features $(CORPUS)/features/lips
	$(PY) -m udiffse_lite robust-av train --corpus $(CORPUS) --steps 3000

# the neural quality estimator of re-synthesis (issue 11): about 4 min on one CPU core
nqe: corpus
	$(PY) -m udiffse_lite nqe train --corpus $(CORPUS)

# the phone recogniser of the phone error rate (issue 11's WER stand-in): a few minutes on 2 CPU cores
phones: corpus
	$(PY) -m udiffse_lite phones train --corpus $(CORPUS)

# the re-synthesiser of AV2Wav-lite (issue 11; ships as tiny-resynth): about 23 + 11 min on 2 CPU cores
resynth: corpus
	$(PY) -m udiffse_lite robust-av extract --corpus $(CORPUS)
	$(PY) -m udiffse_lite train --config tiny-resynth --corpus $(CORPUS) --features $(CORPUS)/features/robust \
		--out $(RUNS)/tiny-resynth
	$(PY) -m udiffse_lite robust-av extract --corpus $(CORPUS) --noisy-snr -5 10
	$(PY) -m udiffse_lite train --config tiny-resynth-ft --corpus $(CORPUS) \
		--features $(CORPUS)/features/robust_noisy --out $(RUNS)/tiny-resynth-ft \
		--init-from $(RUNS)/tiny-resynth/prior.pt

# the diffusion noise prior of DAVSS-NM (issue 10; ships as tiny-noise): about 20 min on 2 CPU cores,
# then the comparison with NMF on the validation mixtures (about 10 min)
noise-prior: corpus
	$(PY) -m udiffse_lite train --config tiny-noise --corpus $(CORPUS) --out $(RUNS)/tiny-noise \
		--init-from udiffse_lite/checkpoints/tiny-ao.pt
	$(PY) scripts/ship_priors.py --run tiny-noise=$(RUNS)/tiny-noise
	$(PY) benchmarks/noise_prior.py --corpus $(CORPUS) --noise-prior $(RUNS)/tiny-noise/prior.pt

priors: lip-encoder
	OMP_NUM_THREADS=1 $(PY) -m udiffse_lite train --config tiny-ao-v1 --corpus $(CORPUS) --out $(RUNS)/tiny-ao-v1 --steps 1548
	OMP_NUM_THREADS=1 $(PY) -m udiffse_lite train --config tiny-ao-v1 --corpus $(CORPUS) --out $(RUNS)/tiny-ao-v1-1000 --steps 1000
	OMP_NUM_THREADS=1 $(PY) -m udiffse_lite train --config tiny-av-xattn --corpus $(CORPUS) \
		--features $(CORPUS)/features/lips --out $(RUNS)/tiny-av-xattn --init-from $(RUNS)/tiny-ao-v1-1000/last.pt --steps 477
	OMP_NUM_THREADS=1 $(PY) -m udiffse_lite train --config tiny-ao --corpus $(CORPUS) --out $(RUNS)/tiny-ao \
		--init-from $(RUNS)/tiny-ao-v1/prior.pt --stop-at $(AO_STEPS)
	OMP_NUM_THREADS=1 $(PY) -m udiffse_lite train --config tiny-av-film1 --corpus $(CORPUS) \
		--features $(CORPUS)/features/lips --out $(RUNS)/tiny-av-film1 --init-from $(RUNS)/tiny-ao-v1/prior.pt \
		--stop-at $(AV1_STEPS)
	OMP_NUM_THREADS=2 $(PY) -m udiffse_lite train --config tiny-av --corpus $(CORPUS) \
		--features $(CORPUS)/features/lips --out $(RUNS)/tiny-av --init-from $(RUNS)/tiny-av-film1/last.pt \
		--stop-at $(AV_STEPS)
	OMP_NUM_THREADS=2 $(PY) -m udiffse_lite train --config tiny-av-faces --corpus $(CORPUS) \
		--features $(CORPUS)/features/lips_faces --out $(RUNS)/tiny-av-faces --init-from $(RUNS)/tiny-av/prior.pt \
		--steps 2400
	OMP_NUM_THREADS=2 $(PY) -m udiffse_lite train --config tiny-av-faces --corpus $(CORPUS) \
		--features $(CORPUS)/features/lips_faces --out $(RUNS)/tiny-av-faces2 \
		--init-from $(RUNS)/tiny-av-faces/prior.pt --steps 4800 --seed 1
	$(PY) scripts/ship_priors.py --run tiny-ao=$(RUNS)/tiny-ao --run tiny-av=$(RUNS)/tiny-av-faces2
	$(PY) scripts/ship_priors.py --run tiny-av-xattn=$(RUNS)/tiny-av-xattn --lip-encoder $(LIP_V1)

table1: install
	$(PY) benchmarks/table1.py --size cpu

bench: install
	$(PY) benchmarks/bench_samplers.py --tiers tiny

clean:
	rm -rf book/_build outputs .pytest_cache
