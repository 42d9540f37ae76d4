#!/usr/bin/env bash
# Builds benchmarks/.peers-venv: flowvox (editable) beside the released peer packages that the
# benchmarks compare against. Peers run from their own packages, never copied into flowvox.
#
#   benchmarks/peers/setup_peers.sh            # base + every peer in PEERS
#   benchmarks/peers/setup_peers.sh vocos      # base + the named peers only
#   PEERS_VENV=/tmp/v PYTHON=python3.12 benchmarks/peers/setup_peers.sh
#
# Idempotent: each step leaves a stamp holding the hash of its own recipe in the venv, and is
# skipped while the stamp matches; editing a recipe re-runs just that step.
# Adding a peer: write a function `peer_NAME` (pip installs through `pip_c`) and add NAME to
# PEERS. torch stays pinned by constraints.txt in every step.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="${PEERS_VENV:-$ROOT/benchmarks/.peers-venv}"
PYTHON="${PYTHON:-python3}"
CONSTRAINTS="$ROOT/constraints.txt"
TORCH_PIN="torch==2.13.0"
PEERS=(vocos f5tts matcha tta)

pip_c() { "$VENV/bin/pip" install -q -c "$CONSTRAINTS" "$@"; }

# Base: torch first (the CPU wheel), then flowvox itself, editable.
peer_base() {
	"$VENV/bin/pip" install -q "$TORCH_PIN"
	pip_c -e "$ROOT"
}

# vocos 0.1.0 declares torchaudio, which has no build for torch 2.13: install it without its
# dependencies and add the ones its decode path imports. tests/peers/vocos_peer.py puts a
# torchaudio stand-in in place while it is imported.
peer_vocos() {
	pip_c --no-deps vocos==0.1.0 encodec==0.1.1
	pip_c huggingface-hub einops pyyaml scipy
}

# f5-tts 1.1.22 declares torchaudio (its 2.11 build does not load with torch 2.13), gradio,
# transformers and more. Installed without its dependencies, plus what `import f5_tts.model`
# needs (the package __init__ also imports the trainer: accelerate, ema-pytorch, wandb,
# datasets). tests/peers/f5_peer.py supplies torchaudio while f5_tts.model imports.
# f5_tts.infer.utils_infer (transformers, pydub, matplotlib) is not needed and not covered.
peer_f5tts() {
	pip_c --no-deps f5-tts==1.1.22
	pip_c x-transformers torchdiffeq librosa rjieba pypinyin ema-pytorch accelerate safetensors \
		wandb datasets
	pip_c pytest # tests/models/test_f5_release_equivalence.py runs here
}

# matcha-tts 0.0.7.2 (latest release) declares torchaudio, torchvision, gradio 3 and more. The
# modules that `import matcha.models.matcha_tts` touches get their dependencies (no torchaudio
# needed), then the sdist is built against this venv's numpy: an isolated build (and a wheel
# cached from one) compiles the Cython extension (monotonic_align) against a newer numpy and
# fails at import ("numpy.dtype size changed"). The last line checks the extension loads.
peer_matcha() {
	pip_c Cython setuptools wheel numpy
	pip_c lightning hydra-core==1.3.2 rich matplotlib wget gdown diffusers conformer==0.3.2 \
		einops scipy librosa
	pip_c --no-deps --no-build-isolation --no-cache-dir --force-reinstall matcha-tts==0.0.7.2
	"$VENV/bin/python" -c "import matcha.utils.monotonic_align"
}

# AudioLDM's released parts (issue: latent text-to-audio): diffusers' AutoencoderKL and
# transformers' SpeechT5HifiGan write the small random folders that
# tests/models/tta/test_released_parts.py reads back with flowvox. Both install with their own
# dependencies; neither moves torch off 2.13.0 nor pulls a CUDA wheel (checked with --dry-run).
peer_tta() {
	pip_c diffusers==0.42.1 transformers==5.24.0
	pip_c pytest
}

run_step() {
	local name="$1" recipe stamp
	recipe="$(declare -f "peer_$name")" || {
		echo "setup_peers: unknown peer '$name'; known: ${PEERS[*]}" >&2
		exit 2
	}
	stamp="$VENV/.stamp-$name"
	local hash
	hash="$(printf '%s\n%s\n' "$recipe" "$(cat "$CONSTRAINTS")" | sha256sum | cut -d' ' -f1)"
	if [[ -f "$stamp" && "$(cat "$stamp")" == "$hash" ]]; then
		echo "setup_peers: $name up to date"
		return
	fi
	echo "setup_peers: installing $name"
	rm -f "$stamp"
	local start=$SECONDS
	"peer_$name"
	echo "$hash" >"$stamp"
	echo "setup_peers: $name installed in $((SECONDS - start)) s"
}

main() {
	if [[ ! -x "$VENV/bin/python" ]]; then
		"$PYTHON" -m venv "$VENV"
	fi
	local wanted=("$@")
	[[ ${#wanted[@]} -gt 0 ]] || wanted=("${PEERS[@]}")
	run_step base
	for name in "${wanted[@]}"; do
		run_step "$name"
	done
	echo "setup_peers: ready: $VENV/bin/python (pip's 'requires X, which is not installed'" \
		"lines about f5-tts / matcha-tts are expected: they are installed without their deps)"
}

main "$@"
