#!/usr/bin/env bash
# Zero-shot voices (issue 19): train acoustic models on many pseudo-speakers so that the voice
# follows the prompt, and pack each with a vocoder for experiments/zero_shot_study.py.
# Steps: the corpus (the standard English voices and PSEUDO_SPEAKERS voice-changed speakers of
# each, about 10 % of those held out in split test_unseen), its mel caches, the speaker
# d-vector cache, the vocoder (the bundled voice's, when its mel matches the prepared one's),
# one training per entry of MODELS, and the packed folders $WORK/packed/<model>.
#
#   scripts/build_zero_shot.sh                                # the whole recipe (CPU hours)
#   MODELS="infill infill-dvec" WORK=/data/zs scripts/build_zero_shot.sh   # other families
#   STEPS=2 HOURS=0.05 WORK=/tmp/zs scripts/build_zero_shot.sh # a smoke run of every step
#
# MODELS: aligned (configs/voice-en7.yaml, audio prompt only), aligned-dvec (the same with
# model.cond_dim=256: the prompt's resemblyzer d-vector too), infill and infill-dvec
# (configs/learning-speed-infill-en7.yaml: the infilling family at the aligned model's CPU size;
# configs/infill-small.yaml is the F5 Small GPU recipe). Every training runs to STEPS with
# train.max_steps=STEPS, so its lr schedule ends there.
# Every step is resumable: the corpus build completes what is missing, prepare and the
# d-vector cache reuse what they hold, each training continues its newest checkpoint (and
# only exports again once it has reached STEPS), and the packing is redone. Then:
#   python -m experiments.zero_shot_study $WORK $WORK/packed/* --out zero_shot_study.md
set -euo pipefail

FLOWVOX=${FLOWVOX:-.venv/bin/flowvox}
PYTHON=${PYTHON:-$(dirname "$FLOWVOX")/python}
WORK=${WORK:-runs/zero-shot}
HOURS=${HOURS:-6}                                # hours of audio, spread over all speakers
CORPUS_SIZE=${CORPUS_SIZE:---hours $HOURS}       # or e.g. "--utterances 400"
VOICES=${VOICES:-}                               # empty: the standard English voices
PSEUDO_SPEAKERS=${PSEUDO_SPEAKERS:-20}           # voice-changed speakers per voice
MODELS=${MODELS:-aligned aligned-dvec}           # any of: aligned aligned-dvec infill infill-dvec
STEPS=${STEPS:-8000}                             # each training's length (train.max_steps)
ALIGNED_CONFIG=${ALIGNED_CONFIG:-configs/voice-en7.yaml}
INFILL_CONFIG=${INFILL_CONFIG:-configs/learning-speed-infill-en7.yaml}
TRAIN_SET=${TRAIN_SET:-}                         # extra --set overrides for every training
VOCODER=${VOCODER:-flowvox/default_voice/vocoder}  # a vocoder folder, or "train"
VOCODER_CONFIG=${VOCODER_CONFIG:-configs/voice-en7-vocoder.yaml}
VOCODER_STEPS=${VOCODER_STEPS:-17000}            # VOCODER=train only
DEFAULT_VOICE=${DEFAULT_VOICE:-flite-rms}        # the packed models' default prompt
ALIGNED_SAMPLING=${ALIGNED_SAMPLING:---nfe 4 --cfg 0.7}          # the bundled voice's
INFILL_SAMPLING=${INFILL_SAMPLING:---nfe 16 --cfg 2 --sway -1}
THREADS=${THREADS:-$(nproc)}

say() { printf '\n== %s\n' "$*"; }
export OMP_NUM_THREADS=$THREADS

# run_file MODEL: the run file and the --set words of a MODELS entry
run_file() {
    case $1 in
        aligned) echo "$ALIGNED_CONFIG" ;;
        aligned-dvec) echo "$ALIGNED_CONFIG model.cond_dim=256" ;;
        infill) echo "$INFILL_CONFIG" ;;
        infill-dvec) echo "$INFILL_CONFIG model.cond_dim=256" ;;
        *) return 1 ;;
    esac
}
for model in $MODELS; do  # a typo fails before hours of corpus building
    if ! run_file "$model" >/dev/null; then
        echo "MODELS: unknown model '$model'; choose from aligned aligned-dvec infill infill-dvec" >&2
        exit 2
    fi
done
if [ "$VOCODER" != train ] && [ ! -f "$VOCODER/config.json" ]; then
    echo "VOCODER=$VOCODER: no vocoder folder there (config.json); give one, or VOCODER=train" >&2
    exit 2
fi

# train RUN_FILE OUT_DIR STEPS SETS: continue OUT_DIR's run up to STEPS (= train.max_steps)
train() {
    local resume=()
    if compgen -G "$2/checkpoints/step-*" >/dev/null; then resume=(--resume); fi
    # shellcheck disable=SC2086  # $4 and TRAIN_SET hold several KEY=VALUE words
    "$FLOWVOX" train "$1" "${resume[@]}" --set "out_dir=$2" "train.max_steps=$3" \
        train.progress_bar=false $4 $TRAIN_SET
}

mkdir -p "$WORK"  # the verbs refuse outputs in a missing folder
say "1/6 corpus: $CORPUS_SIZE, $PSEUDO_SPEAKERS pseudo-speakers per voice"
voices=(--languages en)
# shellcheck disable=SC2206  # VOICES holds several names
if [ -n "$VOICES" ]; then voices=(--voices $VOICES); fi
# shellcheck disable=SC2086
"$FLOWVOX" corpus build "$WORK/corpus" $CORPUS_SIZE "${voices[@]}" \
    --pseudo-speakers "$PSEUDO_SPEAKERS" --workers "$THREADS"

say "2/6 mel caches, durations and vocabulary"
"$FLOWVOX" prepare "$WORK/corpus" "$WORK/prepared" --workers "$THREADS"

say "3/6 speaker d-vectors of every split (resemblyzer), cached in the prepared folder"
"$PYTHON" -c 'import sys; from flowvox.data.dvectors import build_dvectors as b
print(f"{b(sys.argv[1])} utterances have their d-vector")' "$WORK/prepared"

if [ "$VOCODER" = train ]; then
    say "4/6 vocoder to step $VOCODER_STEPS ($VOCODER_CONFIG)"
    resume=()
    if compgen -G "$WORK/vocoder/checkpoints/step-*" >/dev/null; then resume=(--resume); fi
    "$FLOWVOX" train "$VOCODER_CONFIG" "${resume[@]}" --stop-at-step "$VOCODER_STEPS" --set \
        "out_dir=$WORK/vocoder" "data.manifest=$WORK/corpus/manifest.jsonl" \
        train.progress_bar=false
    VOCODER=$WORK/vocoder/model
else
    say "4/6 vocoder: $VOCODER (its mel must be the prepared folder's)"
fi
"$PYTHON" - "$WORK/prepared/mel_config.json" "$VOCODER/config.json" <<'EOF'
import json, sys
prepared = json.load(open(sys.argv[1]))
vocoder = json.load(open(sys.argv[2]))["config"]["mel"]
if prepared != vocoder:
    sys.exit(f"{sys.argv[2]}: the vocoder's mel ({vocoder.get('name')}) is not the prepared "
             f"one ({prepared.get('name')}); give another VOCODER, or VOCODER=train")
print(f"mel {prepared['name']}: the vocoder matches")
EOF

say "5/6 trainings to step $STEPS: $MODELS"
for model in $MODELS; do
    read -r config sets <<<"$(run_file "$model")"
    say "  $model: $config ${sets:-(audio prompt only)}"
    train "$config" "$WORK/$model" "$STEPS" "data.prepared=$WORK/prepared $sets"
done

say "6/6 pack: fp16 weights, the vocoder, one prompt per engine voice"
# the prompts: the engine voices' training utterances (not those of the pseudo-speakers);
# the default voice is DEFAULT_VOICE when it is one of them, else the first
default=$("$PYTHON" - "$WORK/prepared/train.jsonl" "$WORK/voices.jsonl" "$DEFAULT_VOICE" <<'EOF'
import json, sys
rows = [json.loads(x) for x in open(sys.argv[1], encoding="utf-8") if x.strip()]
kept = [r for r in rows if "pseudo_speaker" not in (r.get("extra") or {})]
open(sys.argv[2], "w", encoding="utf-8").write("".join(json.dumps(r) + "\n" for r in kept))
print(sys.argv[3] if any(r["speaker"] == sys.argv[3] for r in kept) else "")
EOF
)
mkdir -p "$WORK/packed"
for model in $MODELS; do
    sampling=$ALIGNED_SAMPLING
    if [[ $model == infill* ]]; then sampling=$INFILL_SAMPLING; fi
    rm -rf "${WORK:?}/packed/$model"
    # shellcheck disable=SC2086
    "$FLOWVOX" pack "$WORK/$model/model" "$WORK/packed/$model" --vocoder "$VOCODER" \
        --voices-from "$WORK/voices.jsonl" ${default:+--default "$default"} $sampling
done
echo "the models: $WORK/packed/ ($MODELS); measure them and the bundled voice with"
echo "  $PYTHON -m experiments.zero_shot_study $WORK $WORK/packed/* --out $WORK/zero_shot_study.md"
