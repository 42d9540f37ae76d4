#!/usr/bin/env bash
# The corpus run of issue 16 (docs/semantic.md), at CPU scale: an English corpus, the
# semantic tokenizer (configs/semantic-small.yaml: stage asr, then stage vq), the three
# flow-matching T2S runs (configs/t2s-fm-small.yaml: (a) supervised, (b) text only on
# sentences never synthesised, (c) both), the autoregressive T2S baseline
# (configs/t2s-ar-small.yaml, the same steps and batch as the FM runs) and the S2A
# (configs/s2a-small.yaml). Then `python -m experiments.semantic_study WORK` measures it.
#
#   scripts/build_semantic.sh                      # all of it; run it again to continue
#   WORK=/data/sem scripts/build_semantic.sh       # elsewhere
#   STEPS=2 HOURS=0.02 WORK=/tmp/sem scripts/build_semantic.sh   # a smoke run of every step
#
# The run files' sizes and schedules are kept; what is scaled down for a 2-core CPU is the
# number of steps (each run's cosine/linear schedule is set to end there: train.max_steps)
# and the batch (SEM_FRAMES, T2S_FRAMES, S2A_FRAMES). Every step is resumable: the corpus
# build completes what is missing, prepare reuses its caches, each training continues its
# newest checkpoint and does nothing once it has reached its step count.
set -euo pipefail

FLOWVOX=${FLOWVOX:-.venv/bin/flowvox}
PYTHON=${PYTHON:-$(dirname "$FLOWVOX")/python}
WORK=${WORK:-runs/semantic}
mkdir -p "$WORK"  # the verbs refuse outputs in a missing folder
HOURS=${HOURS:-3}                        # English corpus, the standard English voices
STEPS=${STEPS:-}                         # set: every training stops there (smoke runs)
ASR_STEPS=${ASR_STEPS:-${STEPS:-6000}}   # semantic tokenizer, stage asr
VQ_STEPS=${VQ_STEPS:-${STEPS:-1500}}     # stage vq (encoder and decoder frozen)
T2S_STEPS=${T2S_STEPS:-${STEPS:-3000}}   # each of FM (a), (b), (c) and the AR baseline
S2A_STEPS=${S2A_STEPS:-${STEPS:-6000}}
SEM_FRAMES=${SEM_FRAMES:-3000}           # mel frames per tokenizer batch (30 s of audio)
T2S_FRAMES=${T2S_FRAMES:-1500}           # 25 Hz positions per T2S batch (60 s of speech)
S2A_FRAMES=${S2A_FRAMES:-3000}           # vocos24k frames per S2A batch (32 s)
ONLY=${ONLY:-}                           # e.g. "asr vq": run only these stages
THREADS=${THREADS:-$(nproc)}

say() { printf '\n== %s\n' "$*"; }
wants() { [ -z "$ONLY" ] || [[ " $ONLY " == *" $1 "* ]]; }
export OMP_NUM_THREADS=$THREADS

# train RUN_FILE OUT_DIR STEPS SETTINGS: continue OUT_DIR's run up to STEPS (its schedule's end)
train() {
    local resume=() warmup=$(( $3 / 10 ))
    if compgen -G "$2/checkpoints/step-*" >/dev/null; then resume=(--resume); fi
    # shellcheck disable=SC2086  # $4 holds several KEY=VALUE words
    "$FLOWVOX" train "$1" "${resume[@]}" --set "out_dir=$2" "train.max_steps=$3" \
        "train.warmup_steps=$warmup" "train.checkpoint_every=$(( $3 < 500 ? 1 : 500 ))" \
        "train.media_every=$(( $3 < 1000 ? $3 : 1000 ))" train.device=cpu \
        train.progress_bar=false $4
}

if wants corpus; then
    say "1/8 corpus: $HOURS h of English, standard voices; mels at whisper16k and vocos24k"
    "$FLOWVOX" corpus build "$WORK/corpus" --hours "$HOURS" --languages en --workers "$THREADS"
    "$FLOWVOX" prepare "$WORK/corpus" "$WORK/prepared-w16" --mel-preset whisper16k \
        --workers "$THREADS"
    "$FLOWVOX" prepare "$WORK/corpus" "$WORK/prepared" --workers "$THREADS"
    # (b)'s text: corpus-source sentences never synthesised and not held out of training
    "$PYTHON" - "$WORK/corpus/manifest.jsonl" "$WORK/sentences-unspoken.txt" <<'EOF'
import json, sys
from flowvox.data.corpus.sentences import is_held_out, normalize_sentence, wordnet_sentences
from flowvox.utils.atomic import atomic_write_text
with open(sys.argv[1], encoding="utf-8") as f:
    spoken = {normalize_sentence(json.loads(line)["text"]) for line in f if line.strip()}
kept = [s for s in wordnet_sentences()
        if normalize_sentence(s) not in spoken and not is_held_out(s)]
atomic_write_text(sys.argv[2], "\n".join(kept) + "\n")
print(f"{len(kept)} unspoken sentences ({len(spoken)} spoken) in {sys.argv[2]}")
EOF
fi

tokenizer=$WORK/semantic-vq/model
w16="data.prepared=$WORK/prepared-w16"
if wants asr; then
    say "2/8 semantic tokenizer, stage asr, to step $ASR_STEPS"
    train configs/semantic-small.yaml "$WORK/semantic" "$ASR_STEPS" \
        "$w16 train.max_frames=$SEM_FRAMES"
fi
if wants vq; then
    say "3/8 semantic tokenizer, stage vq, to step $VQ_STEPS"
    train configs/semantic-small.yaml "$WORK/semantic-vq" "$VQ_STEPS" \
        "$w16 train.max_frames=$SEM_FRAMES stage=vq init_from=$WORK/semantic/model train.lr=1.0e-3"
fi

t2s="data.tokenizer=$tokenizer train.max_frames=$T2S_FRAMES"
if wants fm-a; then
    say "4/8 T2S flow matching (a) supervised, to step $T2S_STEPS"
    train configs/t2s-fm-small.yaml "$WORK/t2s-fm-a" "$T2S_STEPS" "$t2s $w16"
fi
if wants ar; then
    say "5/8 T2S autoregressive baseline, to step $T2S_STEPS"
    train configs/t2s-ar-small.yaml "$WORK/t2s-ar" "$T2S_STEPS" \
        "$t2s $w16 data.token_cache=$WORK/prepared-w16/t2s-ar-codes.safetensors"
fi
if wants fm-b; then
    say "6/8 T2S flow matching (b) text only (unspoken sentences), to step $T2S_STEPS"
    # the length rule (words per second, offset) measured on (a)'s audio
    rule=$("$PYTHON" -c 'import json, sys; m = json.load(open(sys.argv[1]))["model"]
print("model.words_per_second=%s model.offset_seconds=%s"
      % (m["words_per_second"], m["offset_seconds"]))' "$WORK/t2s-fm-a/model/config.json")
    train configs/t2s-fm-small.yaml "$WORK/t2s-fm-b" "$T2S_STEPS" \
        "$t2s mode=text_only data.prepared=null data.texts=$WORK/sentences-unspoken.txt $rule"
fi
if wants fm-c; then
    say "7/8 T2S flow matching (c) both, to step $T2S_STEPS"
    train configs/t2s-fm-small.yaml "$WORK/t2s-fm-c" "$T2S_STEPS" "$t2s $w16 mode=both"
fi
if wants s2a; then
    say "8/8 S2A (tokens + voice prompt -> vocos24k mel), to step $S2A_STEPS"
    train configs/s2a-small.yaml "$WORK/s2a" "$S2A_STEPS" \
        "data.tokenizer=$tokenizer data.prepared=$WORK/prepared train.max_frames=$S2A_FRAMES \
data.token_cache=$WORK/prepared/s2a-codes.safetensors"
fi
echo "done; measure it: $PYTHON -m experiments.semantic_study $WORK"
