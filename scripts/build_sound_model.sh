#!/usr/bin/env bash
# Rebuild the bundled sound model (flowvox/sound_model/) from nothing: the captioned sound
# corpus, lafma16k mels, the mel VAE (configs/tta-vae-small.yaml), the latent flow model over
# the VAE's latents (configs/tta-lfm-small.yaml) and the packed folder: the flow model's files
# with vae/ inside, fp16 weights (≈ 12 MB), vocoded by Griffin-Lim. About 1.2 h on 2 idle CPU
# cores (VAE 25 min, flow model 4,000 steps 40 min, the VAE's latents encoded once in its
# first epoch). VOCODER=vocos also trains a 16 kHz Vocos (configs/vocoder-vocos16k.yaml,
# 10 min) and packs it as vocoder/: after its 8,000 mel-only CPU steps it still loses tones
# (2 of 16 test clips judged right on every attribute, Griffin-Lim 10, the clips themselves
# 13), so the shipped model uses Griffin-Lim until a longer vocoder run beats it.
#
#   make sound-model                    # the whole recipe (CPU hours; see docs/training.md)
#   WORK=/data/sm make sound-model      # elsewhere; run it again to continue where it stopped
#   STEPS=2 CLIPS=6 WORK=/tmp/sm scripts/build_sound_model.sh   # a smoke run of every step
#
# Every step is resumable: the corpus build completes what is missing, prepare reuses its
# mel caches, each training continues its newest checkpoint (and does nothing once it has
# reached its step count), and the packing is redone from the exported folders.
# The result is $WORK/packed: copy it over flowvox/sound_model/ to ship it.
set -euo pipefail

FLOWVOX=${FLOWVOX:-.venv/bin/flowvox}
PYTHON=${PYTHON:-$(dirname "$FLOWVOX")/python}
WORK=${WORK:-runs/sound-model}
mkdir -p "$WORK"  # the verbs refuse outputs in a missing folder
CLIPS=${CLIPS:-2000}                             # captioned clips of CLIP_SECONDS each
CLIP_SECONDS=${CLIP_SECONDS:-10.24}              # 1024 mel frames
CORPUS_SEED=${CORPUS_SEED:-0}
VAE_CONFIG=${VAE_CONFIG:-configs/tta-vae-small.yaml}
VOCODER=${VOCODER:-griffin-lim}                  # or vocos: train and pack VOCODER_CONFIG
VOCODER_CONFIG=${VOCODER_CONFIG:-configs/vocoder-vocos16k.yaml}
LFM_CONFIG=${LFM_CONFIG:-configs/tta-lfm-small.yaml}
STEPS=${STEPS:-}                                 # set: every training stops there (smoke runs)
VAE_STEPS=${VAE_STEPS:-${STEPS:-3000}}          # schedules stay the run files'
VOCODER_STEPS=${VOCODER_STEPS:-${STEPS:-8000}}
LFM_STEPS=${LFM_STEPS:-${STEPS:-4000}}
VAE_SET=${VAE_SET:-}                             # extra --set overrides, e.g. "train.lr=3e-4"
VOCODER_SET=${VOCODER_SET:-}
LFM_SET=${LFM_SET:-}
MAX_MB=${MAX_MB:-20}                             # the packed folder's size limit
THREADS=${THREADS:-$(nproc)}

say() { printf '\n== %s\n' "$*"; }
export OMP_NUM_THREADS=$THREADS

# train RUN_FILE OUT_DIR STEPS DATA_OVERRIDES EXTRA: continue OUT_DIR's run up to STEPS
train() {
    local resume=()
    if compgen -G "$2/checkpoints/step-*" >/dev/null; then resume=(--resume); fi
    # shellcheck disable=SC2086  # $4 and $5 hold several KEY=VALUE words
    "$FLOWVOX" train "$1" "${resume[@]}" --stop-at-step "$3" \
        --set "out_dir=$2" $4 train.device=cpu train.progress_bar=false $5
}

say "1/6 sound corpus: $CLIPS clips"
"$FLOWVOX" corpus sounds "$WORK/sounds" --clips "$CLIPS" --seed "$CORPUS_SEED" \
    --seconds "$CLIP_SECONDS" --workers "$THREADS"

say "2/6 lafma16k mel caches"
"$FLOWVOX" prepare "$WORK/sounds" "$WORK/prepared" --mel-preset lafma16k --workers "$THREADS"

say "3/6 mel VAE to step $VAE_STEPS ($VAE_CONFIG)"
train "$VAE_CONFIG" "$WORK/vae" "$VAE_STEPS" "data.prepared=$WORK/prepared" "$VAE_SET"

if [ "$VOCODER" = griffin-lim ]; then
    say "4/6 vocoder: Griffin-Lim (nothing to train; VOCODER=vocos trains one)"
    vocoder_dir=griffin-lim
else
    say "4/6 16 kHz vocoder to step $VOCODER_STEPS ($VOCODER_CONFIG)"
    train "$VOCODER_CONFIG" "$WORK/vocoder" "$VOCODER_STEPS" \
        "data.manifest=$WORK/sounds/manifest.jsonl train.num_workers=0" "$VOCODER_SET"
    vocoder_dir=$WORK/vocoder/model
fi

say "5/6 latent flow model to step $LFM_STEPS ($LFM_CONFIG) over the VAE's latents"
train "$LFM_CONFIG" "$WORK/lfm" "$LFM_STEPS" \
    "data.prepared=$WORK/prepared data.vae=$WORK/vae/model" "$LFM_SET"

say "6/6 pack: fp16 weights, vae/ (and vocoder/) inside"
rm -rf "$WORK/packed"
"$PYTHON" -c 'import sys; from flowvox.models.tta.pack import pack_sound_model as p
p(*sys.argv[1:5], default_seconds=float(sys.argv[5]))' \
    "$WORK/lfm/model" "$WORK/vae/model" "$vocoder_dir" "$WORK/packed" "$CLIP_SECONDS"
size=$(du -sm "$WORK/packed" | cut -f1)
if [ "$size" -gt "$MAX_MB" ]; then
    echo "the packed model is $size MB, over MAX_MB=$MAX_MB; use smaller run files" >&2
    exit 1
fi
echo "the sound model: $WORK/packed ($size MB); copy it over flowvox/sound_model/ to ship it"
