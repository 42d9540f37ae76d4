"""Pseudo-speakers: seeded parameters, the unseen rule, the plan, a tiny build and the CLI."""

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from flowvox.audio.voice_change import VoiceChange
from flowvox.cli.main import main
from flowvox.data.corpus.build import CorpusConfig, build_corpus
from flowvox.data.corpus.plan import plan_corpus, select_voices
from flowvox.data.corpus.pseudo import (
    PITCH_GAP,
    RATE,
    SEMITONES,
    TILT_DB_PER_OCTAVE,
    VTL,
    halton,
    is_unseen_speaker,
    pseudo_speaker,
    pseudo_speakers_of,
)
from flowvox.data.corpus.sentences import TextSource
from flowvox.data.manifest import read_manifest
from flowvox.errors import FlowvoxError

SENTENCES = [f"Sentence number {w} is here for the test." for w in "abcdefghijklmnopqrstuvwxyz"]


def sources():
    return {"en": TextSource("en", "test", "none", "none", "none.txt", SENTENCES)}


def unseen_k(voice: str) -> int:
    """The first k whose pseudo-speaker of ``voice`` is unseen."""
    return next(k for k in range(1, 200) if is_unseen_speaker(f"{voice}+p{k}"))


def test_halton_is_the_radical_inverse():
    assert [halton(k, 2) for k in range(1, 5)] == [0.5, 0.25, 0.75, 0.125]
    assert [halton(k, 3) for k in range(1, 4)] == pytest.approx([1 / 3, 2 / 3, 1 / 9])


def test_pseudo_speakers_are_a_function_of_the_name_within_the_ranges():
    speakers = pseudo_speakers_of("flite:rms", 40)
    assert speakers == pseudo_speakers_of("flite:rms", 40)  # deterministic
    assert speakers[:5] == pseudo_speakers_of("flite:rms", 5)  # +pk does not depend on K
    assert speakers[0] != pseudo_speaker("flite:awb", 1)
    assert [s.name for s in speakers[:2]] == ["flite:rms+p1", "flite:rms+p2"]
    for s in speakers:
        c = s.change
        assert SEMITONES[0] <= c.semitones <= SEMITONES[1] and abs(c.semitones) >= PITCH_GAP
        assert VTL[0] <= c.vtl <= VTL[1] and RATE[0] <= c.rate <= RATE[1]
        assert TILT_DB_PER_OCTAVE[0] <= c.tilt_db_per_octave <= TILT_DB_PER_OCTAVE[1]
        assert c.semitones == round(c.semitones, 3)  # the stored values are the applied ones
    pitches = sorted(s.change.semitones for s in speakers[:8])
    assert min(np.diff(pitches)) > 0.4  # spread, not clumped: the Halton sequence
    extra = speakers[0].manifest_extra()
    assert extra["name"] == "flite:rms+p1" and extra["k"] == 1
    assert VoiceChange(**{k: extra[k] for k in VoiceChange().as_dict()}) == speakers[0].change
    json.dumps(extra)  # plain numbers, storable in the manifest


def test_about_a_tenth_of_the_pseudo_speakers_are_unseen():
    names = [f"espeak:en-us+m3+p{k}" for k in range(1, 1001)]
    assert 70 <= sum(map(is_unseen_speaker, names)) <= 130
    assert is_unseen_speaker(names[0]) == is_unseen_speaker(names[0])


def test_plan_spreads_over_pseudo_speakers_and_unseen_ones_never_train():
    voices = select_voices(["flite:kal16", "flite:awb"], None)
    k = max(unseen_k("flite:kal16"), 2)
    plan = plan_corpus(voices, sources(), utterances=2 * (k + 1), hours=None, seed=0,
                       pseudo_speakers=k)  # fmt: skip
    per_speaker = Counter(u.speaker for u in plan)
    assert len(per_speaker) == 2 * (k + 1) and set(per_speaker.values()) == {1}
    assert plan[0].speaker == "flite:kal16" and plan[1].speaker == "flite:kal16+p1"
    for u in plan:
        unseen = u.pseudo is not None and u.pseudo.unseen
        assert (u.split == "test_unseen") == unseen
        assert u.rel_path == f"wavs/{u.speaker_slug}/{u.utt_id}.wav"
    assert any(u.split == "test_unseen" for u in plan)
    assert not any(u.split == "train" and u.speaker == f"flite:kal16+p{k}" for u in plan)
    without = plan_corpus(voices, sources(), utterances=6, hours=None, seed=3)
    assert without == plan_corpus(voices, sources(), 6, None, 3, pseudo_speakers=0)
    assert all(u.pseudo is None for u in without)


@pytest.mark.parametrize("count", [-1, 1.5, True, 1001])
def test_bad_pseudo_speaker_counts_are_refused(count):
    voices = select_voices(["flite:kal16"], None)
    with pytest.raises(FlowvoxError, match="--pseudo-speakers"):
        plan_corpus(voices, sources(), utterances=2, hours=None, seed=0, pseudo_speakers=count)


def test_tiny_build_stores_the_parameters_and_holds_unseen_speakers_out(tmp_path: Path):
    voice = "espeak:en-us+f2"
    k = unseen_k(voice)
    cfg = CorpusConfig(tmp_path / "a", voices=[voice], utterances=k + 1, seed=1, workers=1,
                       pseudo_speakers=k)  # fmt: skip
    report = build_corpus(cfg, progress=False)
    assert (report.built, report.failed) == (k + 1, 0)
    entries = read_manifest(tmp_path / "a" / "manifest.jsonl")
    pseudo = [e for e in entries if "pseudo_speaker" in e.extra]
    assert len(pseudo) == k and entries[0].speaker == "espeak-en-us-f2"
    for e in pseudo:
        stored = e.extra["pseudo_speaker"]
        expected = pseudo_speaker(voice, stored["k"])
        assert stored == expected.manifest_extra() and e.extra["voice"] == voice
        assert e.speaker == f"espeak-en-us-f2-p{stored['k']}"
        assert sf.info(e.audio).samplerate == 24000
    train = read_manifest(tmp_path / "a" / "train.jsonl")
    unseen = read_manifest(tmp_path / "a" / "test_unseen.jsonl")
    assert [e.speaker for e in unseen] == [f"espeak-en-us-f2-p{k}"]
    assert f"espeak-en-us-f2-p{k}" not in {e.speaker for e in train}
    card = (tmp_path / "a" / "CORPUS.md").read_text()
    assert "--pseudo-speakers" in card and f"{voice}+p{k}" in card
    build_corpus(CorpusConfig(**{**cfg.__dict__, "out_dir": tmp_path / "b"}), progress=False)
    for e in entries:  # same seed: the same bytes
        other = tmp_path / "b" / Path(e.audio).relative_to(tmp_path / "a")
        assert other.read_bytes() == Path(e.audio).read_bytes()


@pytest.mark.parametrize(
    ("value", "fragment"), [("-1", "--pseudo-speakers -1"), ("two", "invalid int value")]
)
def test_cli_refuses_bad_counts_in_one_line(tmp_path: Path, capsys, value, fragment):
    out = tmp_path / "corpus"
    argv = ["corpus", "build", str(out), "--utterances", "2", "--pseudo-speakers", value]
    try:
        code = main(argv)
    except SystemExit as exit_:  # argparse refuses a non-integer itself
        code = exit_.code
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and fragment in err, err
    assert not any(out.rglob("*.wav"))
