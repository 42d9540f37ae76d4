#!/usr/bin/env bash
# Rebuild the bundled default voice (flowvox/default_voice/) from nothing: the seven-voice
# corpus, the acoustic model (configs/voice-en7.yaml), the vocoder
# (configs/voice-en7-vocoder.yaml), the packed folder and its eval report.
#
#   make default-voice                 # the whole recipe; ≈ 4 h on a 2-core CPU
#   WORK=/data/dv make default-voice   # elsewhere; run it again to continue where it stopped
#
# Every step is resumable: the corpus build completes what is missing, prepare reuses its
# caches, both trainings continue their newest checkpoint, and finished steps are skipped.
# The settings below are those of the shipped voice; each can be set from the environment.
# The result is $WORK/packed (copy it over flowvox/default_voice/ to ship it) and
# $WORK/eval/results.md (WER, speaker similarity, MCD, F0, RTF beside the ground truth).
set -euo pipefail

FLOWVOX=${FLOWVOX:-.venv/bin/flowvox}
WORK=${WORK:-runs/default-voice}
mkdir -p "$WORK"  # the verbs refuse outputs in a missing folder
CORPUS_SIZE=${CORPUS_SIZE:---hours 2.5}      # or e.g. "--utterances 200"
VOICES=${VOICES:-flite:kal16 flite:awb flite:rms flite:slt festival:kal_diphone \
festival:ked_diphone festival:cmu_us_slt_arctic_hts}
ACOUSTIC_STEPS=${ACOUSTIC_STEPS:-8000}       # the schedule stays configs/voice-en7.yaml's
VOCODER_STEPS=${VOCODER_STEPS:-17000}       # 16,000 of mel loss alone, then 1,000 GAN steps
ACOUSTIC_SET=${ACOUSTIC_SET:-}               # extra --set overrides, e.g. "train.lr=3e-4"
VOCODER_SET=${VOCODER_SET:-}
DEFAULT_VOICE=${DEFAULT_VOICE:-flite-rms}
SAMPLING=${SAMPLING:---nfe 4 --cfg 0.7}      # the packed model's default sampling
EVAL=${EVAL:-1}                              # 0 skips the eval
EVAL_NFE=${EVAL_NFE:-}                       # e.g. "1 4 16"; empty: the packed default
THREADS=${THREADS:-$(nproc)}

say() { printf '\n== %s\n' "$*"; }
export OMP_NUM_THREADS=$THREADS

# train RUN_FILE OUT_DIR STEPS DATA_OVERRIDE EXTRA: continue OUT_DIR's run up to STEPS
train() {
    local resume=()
    if compgen -G "$2/checkpoints/step-*" >/dev/null; then resume=(--resume); fi
    # shellcheck disable=SC2086  # $5 holds several KEY=VALUE words
    "$FLOWVOX" train "$1" "${resume[@]}" --stop-at-step "$3" \
        --set "out_dir=$2" "$4" train.progress_bar=false $5
}

say "1/6 corpus: $CORPUS_SIZE of $VOICES"
# shellcheck disable=SC2086
"$FLOWVOX" corpus build "$WORK/corpus" $CORPUS_SIZE --voices $VOICES

say "2/6 mel caches, durations and vocabulary"
"$FLOWVOX" prepare "$WORK/corpus" "$WORK/prepared"

say "3/6 acoustic model to step $ACOUSTIC_STEPS (configs/voice-en7.yaml)"
train configs/voice-en7.yaml "$WORK/acoustic" "$ACOUSTIC_STEPS" \
    "data.prepared=$WORK/prepared" "$ACOUSTIC_SET"

say "4/6 vocoder to step $VOCODER_STEPS (configs/voice-en7-vocoder.yaml)"
train configs/voice-en7-vocoder.yaml "$WORK/vocoder" "$VOCODER_STEPS" \
    "data.manifest=$WORK/corpus/manifest.jsonl" "$VOCODER_SET"

say "5/6 pack: fp16 weights, the vocoder, one prompt per voice"
rm -rf "$WORK/packed"
# shellcheck disable=SC2086
"$FLOWVOX" pack "$WORK/acoustic/model" "$WORK/packed" --vocoder "$WORK/vocoder/model" \
    --voices-from "$WORK/prepared/train.jsonl" --default "$DEFAULT_VOICE" $SAMPLING

if [ "$EVAL" = 0 ]; then
    say "6/6 eval skipped (EVAL=0)"
    exit 0
fi
say "6/6 eval on held-out sentences"
if [ ! -f "$WORK/testset.jsonl" ]; then
    "$FLOWVOX" eval testset "$WORK/corpus" "$WORK/testset.jsonl"
fi
rm -rf "$WORK/eval"
# shellcheck disable=SC2086
"$FLOWVOX" eval run "$WORK/testset.jsonl" "$WORK/eval" --model "$WORK/packed" \
    ${EVAL_NFE:+--nfe $EVAL_NFE} --workers 0
echo "the voice: $WORK/packed; its report: $WORK/eval/results.md"
