"""The infilling family's speaker d-vector condition (``cond_dim``): off changes nothing, on the
velocity follows the d-vector except on rows whose prompt is dropped, training draws another
utterance's cached d-vector, and an exported model speaks with a reference clip's, computed
once per reference; a model without it never imports resemblyzer."""
# b: batch, n: frames, f: mel bins, k: d-vector channels

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import soundfile as sf
import torch
import yaml

from flowvox.audio.dvector import DVECTOR_DIM, DVectorEncoder
from flowvox.data.dvectors import DVECTOR_FILE
from flowvox.errors import FlowvoxError
from flowvox.infer import Synthesizer
from flowvox.infer.backends import infill as infill_backend
from flowvox.models.infill import InfillTTSConfig
from flowvox.train import StepContext, train_from_config
from tests.infer.helpers import CountingTranscriber, cheap_vocoder, speech_like, tiny_model_dir
from tests.models.dvector_helpers import SpeakersCorpus, counting_encoders, randomize
from tests.models.infill_helpers import VOCAB, batch, tiny_model
from tests.models.task_helpers import RecordingSink

CORPUS = SpeakersCorpus()
TASK = "infill_tts"
MODEL = {"preset": "tiny", "dim": 32, "heads": 2, "text_dim": 32, "conv_layers": 1}
SPEAKER_MODEL = {**MODEL, "cond_dim": DVECTOR_DIM}
TRAIN = {"max_steps": 2, "max_frames": 160, "checkpoint_every": 2}
NEW_KEYS = {"transformer.cond_embed.proj.weight", "transformer.cond_embed.proj.bias"}
BACKBONES = ["tiny", "e2_tiny"]
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def speaker(seed: int) -> torch.Tensor:
    return torch.randn(3, 6, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("preset", BACKBONES)
def test_off_adds_no_weights_and_on_adds_only_the_speaker_term(preset):
    assert InfillTTSConfig().cond_dim == 0
    plain = tiny_model(preset, randomize=False)
    fresh = tiny_model(preset, "cond_dim=6", randomize=False)  # same seed
    assert not any("cond_embed" in key for key in plain.state_dict())
    assert set(fresh.state_dict()) - set(plain.state_dict()) == NEW_KEYS
    for key, value in plain.state_dict().items():  # made last: the rest is drawn as before
        assert torch.equal(fresh.state_dict()[key], value), key
    off = tiny_model(preset)
    on = tiny_model(preset, "cond_dim=6")
    zeros = {k: torch.zeros_like(v) for k, v in on.state_dict().items() if k in NEW_KEYS}
    on.load_state_dict({**off.state_dict(), **zeros})  # W g + b = 0: the model without it
    x, cond, ids, t, mask = batch()
    drop = torch.tensor([True, False, False])
    with torch.no_grad():
        want = off(x, cond, ids, t, mask, drop, drop)
        got = on(x, cond, ids, t, mask, drop, drop, spk=speaker(0))
    assert torch.equal(got, want)


@pytest.mark.parametrize("preset", BACKBONES)
def test_the_velocity_follows_the_dvector_except_where_the_prompt_is_dropped(preset):
    model = tiny_model(preset, "cond_dim=6")
    x, cond, ids, t, mask = batch()
    drop = torch.tensor([True, False, True])  # rows 0 and 2: guidance's unconditional rows
    with torch.no_grad():
        v1, v2 = (model(x, cond, ids, t, mask, drop, drop, spk=speaker(s)) for s in (0, 1))
        assert torch.equal(v1[drop], v2[drop]) and not torch.allclose(v1[~drop], v2[~drop])
        mel, lengths = cond, mask.sum(1)
        draw = model.draw_training(lengths, x.shape[1], torch.Generator().manual_seed(2), x.dtype)
        losses = [model.loss_with_draw(mel, lengths, ids, draw, speaker(s)).loss for s in (0, 1)]
        assert not torch.equal(*losses)
    with pytest.raises(FlowvoxError, match=r"spk none: this model takes a speaker"):
        model(x, cond, ids, t, mask)
    with pytest.raises(FlowvoxError, match=r"spk \(3, 5\)"):
        model(x, cond, ids, t, mask, spk=speaker(0)[:, :5])
    with pytest.raises(FlowvoxError, match="cond_dim=0"):
        tiny_model(preset)(x, cond, ids, t, mask, spk=speaker(0))
    with pytest.raises(FlowvoxError, match="cond_dim"):
        InfillTTSConfig(text_vocab_size=VOCAB, cond_dim=-1)


def test_training_draws_another_utterances_cached_dvector(prepared, build_task, monkeypatch):
    counter = counting_encoders(monkeypatch)
    task = build_task(SPEAKER_MODEL)
    data = task.train_data()
    assert counter.calls == 6 and (prepared / DVECTOR_FILE).is_file()
    torch.manual_seed(0)
    model = randomize(task.build_modules()["model"])
    entries = data.dataset.entries
    batch_ = data.collate([data.dataset[i] for i in range(len(entries))])
    utt = batch_.utterances
    gen = torch.Generator().manual_seed(5)
    out = task.training_step({"model": model}, batch_, StepContext(0, 0, utt.mel.device, gen, gen))
    again = torch.Generator().manual_seed(5)
    draw = model.draw_training(utt.mel_lengths, utt.mel.shape[1], again, utt.mel.dtype)
    partners = task.speakers.partners(utt.indices, again)
    for i, j in zip(utt.indices.tolist(), partners.tolist(), strict=True):
        alone = entries[i].speaker == "solo"
        assert entries[j].speaker == entries[i].speaker and (j == i) == alone
    inputs = (utt.mel, utt.mel_lengths, batch_.text_ids, draw)
    want = model.loss_with_draw(*inputs, task.speakers.table[partners]).loss
    own = model.loss_with_draw(*inputs, task.speakers.own(utt.indices)).loss
    assert torch.equal(out.loss, want) and not torch.equal(out.loss, own)
    task.config.media.griffin_lim_iters = 0
    sink = RecordingSink()
    with torch.no_grad():
        task.log_media({"model": model}, 0, sink)  # with the media utterance's own d-vector
    assert counter.calls == 7 and "media/infill_l1" in sink.scalars
    build_task(SPEAKER_MODEL).train_data()  # a second start reads the cache
    assert counter.calls == 7
    with pytest.raises(FlowvoxError, match="cond_dim=8: the speaker d-vectors"):
        build_task({**MODEL, "cond_dim": 8})


def test_an_exported_model_speaks_with_the_reference_clips_dvector_once_per_reference(
    tmp_path, prepared, run_dict, monkeypatch
):
    """resemblyzer itself on both sides: the cache at training start, the reference in speak."""
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump({**run_dict(tmp_path / "run"), "model": SPEAKER_MODEL}))
    result = train_from_config(path)
    config = json.loads((result.export_dir / "config.json").read_text())
    assert result.step == 2 and config["model"]["cond_dim"] == DVECTOR_DIM
    ref_wav, other_wav = tmp_path / "ref.wav", tmp_path / "other.wav"
    sf.write(ref_wav, speech_like(1.2), 24000)
    sf.write(other_wav, speech_like(1.0, seed=3), 24000)
    seen, embedded = [], []
    sample_chunks, embed = infill_backend.sample_chunks, DVectorEncoder.__call__

    def spy(model, jobs, options, spk=None):
        seen.append(spk)
        return sample_chunks(model, jobs, options, spk)

    def counting(self, wav, sample_rate):
        embedded.append(len(wav))
        return embed(self, wav, sample_rate)

    monkeypatch.setattr(infill_backend, "sample_chunks", spy)
    monkeypatch.setattr(DVectorEncoder, "__call__", counting)
    tts = Synthesizer.from_pretrained(
        result.export_dir, vocoder=cheap_vocoder(), transcriber=CountingTranscriber()
    )
    speech = tts.speak("we sing. ok go.", ref_audio=ref_wav, ref_text="a cat sat.", nfe=2, seed=0)
    assert speech.duration > 0.1 and bool(torch.isfinite(torch.from_numpy(speech.wav)).all())
    ref = tts.reference(ref_wav, "a cat sat.")
    assert ref.dvector.shape == (DVECTOR_DIM,)
    assert torch.equal(seen[-1], ref.dvector.expand(len(seen[-1]), DVECTOR_DIM))
    list(tts.stream("hello there", ref_wav, "a cat sat.", nfe=1, seed=0))
    assert len(embedded) == 1  # one reference, one d-vector
    tts.speak("hello there", ref_audio=other_wav, ref_text="ok go.", nfe=1, seed=0)
    assert len(embedded) == 2 and not torch.allclose(seen[-1][0], ref.dvector)


def test_a_model_without_it_never_imports_resemblyzer(tmp_path):
    model_dir = tiny_model_dir(tmp_path / "model")
    ref = tmp_path / "ref.wav"
    sf.write(ref, speech_like(1.0), 24000)
    code = (
        "import sys\n"
        "from flowvox.infer import Synthesizer\n"
        "from tests.infer.helpers import CountingTranscriber, cheap_vocoder\n"
        f"tts = Synthesizer.from_pretrained({str(model_dir)!r}, vocoder=cheap_vocoder(), "
        "transcriber=CountingTranscriber())\n"
        f"tts.speak('hi there', ref_audio={str(ref)!r}, ref_text='hello.', nfe=1, seed=0)\n"
        "assert tts.reference(" + repr(str(ref)) + ", 'hello.').dvector is None\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'resemblyzer'))\n"
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"
