# flowvox set-up, demo and tests on a fresh Debian machine.
#   make demo   installs everything, speaks with the bundled default voice and makes a sound
#               with the bundled sound model
#   make test   installs everything and runs lint + the test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT_PACKAGES := flite festival festvox-us-slt-hts festvox-kallpc16k festvox-kdlpc16k \
	espeak-ng sox wordnet-base fortunes-es pocketsphinx-testdata libsndfile1 \
	chromium chromium-driver
# Installed without their declared dependencies: resemblyzer (the speaker judge; its own
# metadata pulls the `typing` backport) and the released vocos package, the equivalence
# oracle of tests/vocoders (it declares torchaudio, which has no build for torch 2.13).
NO_DEPS_PACKAGES := resemblyzer==0.1.4 vocos==0.1.0 encodec==0.1.1

PEERS_VENV ?= benchmarks/.peers-venv

.PHONY: install system-packages demo default-voice sound-model test test-f5 test-tta lint clean

install: system-packages $(VENV)/.installed

# Debian packages: the speech engines, WordNet text and test recordings; headless Chromium and
# its driver for the web page test of `flowvox serve` (tests/serve/test_page.py).
system-packages:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:" $$missing; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; \
	fi

# torch==2.13.0 (CPU wheel) goes in first; constraints.txt keeps every later step on it.
$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -c constraints.txt -e ".[test,eval,zh,serve,onnx]"
	$(BIN)/pip install -q --no-deps $(NO_DEPS_PACKAGES)
	touch $@

# The main job with the bundled default voice (flowvox/default_voice/): no flags, no downloads.
demo: install
	$(BIN)/flowvox speak "Hello! This is flowvox, speaking with its bundled default voice." -o demo.wav
	$(BIN)/flowvox speak "And this is another of its seven voices." -o demo-slt.wav --voice flite-slt
	$(BIN)/flowvox sound "three short high beeps, then a man speaks" -o demo-sound.wav
	@echo "wrote demo.wav, demo-slt.wav (speech) and demo-sound.wav (the bundled sound model); all voices: $(BIN)/flowvox voices"

# Rebuild the bundled voice from nothing (corpus, acoustic model, vocoder, pack, eval); hours
# on a CPU, resumable: run it again to continue. Settings: scripts/build_default_voice.sh.
default-voice: install
	FLOWVOX=$(BIN)/flowvox scripts/build_default_voice.sh

# Rebuild the bundled sound model (latent text-to-audio) from nothing: sound corpus, mel VAE,
# 16 kHz HiFi-GAN, latent flow model, pack (tens of CPU hours, resumable: run it again to
# continue). Settings: scripts/build_sound_model.sh.
sound-model: install
	FLOWVOX=$(BIN)/flowvox scripts/build_sound_model.sh

lint: install
	$(BIN)/ruff check flowvox tests benchmarks experiments

test: install lint
	FLOWVOX_REQUIRE_PEERS=1 $(BIN)/pytest -n auto -q tests
	$(MAKE) test-f5
	$(MAKE) test-tta

# Equivalence with the released f5-tts package (issue 8): it needs its own environment
# (f5-tts declares a torchaudio that does not load with torch 2.13), built by
# benchmarks/peers/setup_peers.sh (about 1-2 min, 1.9 GB; a second run is a no-op).
test-f5:
	PEERS_VENV=$(PEERS_VENV) benchmarks/peers/setup_peers.sh f5tts
	FLOWVOX_REQUIRE_F5=1 $(PEERS_VENV)/bin/python -m pytest -q -p no:cacheprovider \
		tests/models/test_f5_release_equivalence.py

clean:
	rm -rf $(VENV) demo.wav demo-slt.wav demo-sound.wav .pytest_cache .ruff_cache

# Equivalence of the latent text-to-audio parts with diffusers' AutoencoderKL and transformers'
# SpeechT5HifiGan (random small configs saved by those packages), the T5 caption encoder
# through transformers, and the semantic tokenizer's Whisper loader against transformers'
# Whisper, in the same peers environment.
test-tta:
	PEERS_VENV=$(PEERS_VENV) benchmarks/peers/setup_peers.sh tta
	FLOWVOX_REQUIRE_TTA=1 $(PEERS_VENV)/bin/python -m pytest -q -p no:cacheprovider \
		tests/models/tta/test_released_parts.py \
		tests/models/tta/test_latent_flow.py::test_t5_caption_encoder_is_frozen_and_outside_the_state_dict \
		tests/models/semantic/test_whisper_release.py
