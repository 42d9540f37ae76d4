"""The aligned family's speaker d-vector condition (``cond_dim``): off changes nothing, on the
output follows the d-vector except in guidance's unconditional rows, training draws another
utterance's cached d-vector, and an exported model speaks with a reference clip's."""
# b: batch, l: tokens, n: frames, f: mel bins, k: d-vector channels

from __future__ import annotations

import json
import shutil

import pytest
import soundfile as sf
import torch
import yaml
from safetensors import safe_open

from flowvox.audio.dvector import DVECTOR_DIM, DVectorEncoder, dvector_encoder_name
from flowvox.data.dvectors import DVECTOR_FILE, cached_dvectors
from flowvox.errors import FlowvoxError
from flowvox.infer import Synthesizer
from flowvox.models.aligned.config import AlignedTTSConfig
from flowvox.models.aligned.model import AlignedDraw, AlignedTTS
from flowvox.train import StepContext, train_from_config
from tests.infer.helpers import CountingTranscriber, cheap_vocoder, speech_like
from tests.models.aligned_helpers import (
    one_thread,  # noqa: F401  (a module fixture)
    random_model,
    tiny_config,
)
from tests.models.dvector_helpers import (
    UTTERANCES,
    SpeakersCorpus,
    counting_encoders,
    randomize,
    speaker_wav,
)
from tests.models.task_helpers import RecordingSink

CORPUS = SpeakersCorpus()
TASK = "aligned_tts"
MODEL = {"preset": "tiny", "dim": 32, "heads": 2, "enc_dim": 32, "enc_ffn_dim": 64}
SPEAKER_MODEL = {**MODEL, "cond_dim": DVECTOR_DIM}
TRAIN = {"max_steps": 2, "max_frames": 200, "checkpoint_every": 2}
NEW_KEYS = {
    f"{module}.{name}"
    for module in ("encoder.cond_proj", "decoder.cond_embed")
    for name in ("weight", "bias")
}
pytestmark = pytest.mark.usefixtures("one_thread")


def texts():
    """ids (3, l0), lengths (3,) and fixed durations (3, 2 l0 + 1): 2 frames per token."""
    ids = torch.tensor([[1, 2, 3, 4, 5], [6, 7, 1, 0, 0], [2, 2, 3, 4, 0]])
    lengths = torch.tensor([5, 3, 4])
    return ids, lengths, torch.full((3, 11), 2)


def randn(*shape, seed: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_off_adds_no_weights_and_on_adds_only_the_speaker_terms():
    assert AlignedTTSConfig().cond_dim == 0 and tiny_config().cond_dim == 0
    off = random_model(tiny_config(), seed=1)
    assert not any("cond" in key for key in off.state_dict())
    on = AlignedTTS(tiny_config(cond_dim=6)).double()
    assert set(on.state_dict()) - set(off.state_dict()) == NEW_KEYS
    zeros = {k: torch.zeros_like(v) for k, v in on.state_dict().items() if k in NEW_KEYS}
    on.load_state_dict({**off.state_dict(), **zeros})  # W g + b = 0: the model without it
    on.eval()
    ids, lengths, _ = texts()
    g = randn(3, 6, seed=0)
    prompt = (randn(3, 9, 4, seed=1), torch.tensor([9, 7, 9]), lengths - 2)

    def run(model, **spk):
        gen = torch.Generator().manual_seed(2)
        return model.synthesize(ids, lengths, *prompt, nfe=2, cfg=0.7, generator=gen, **spk)

    want, got = run(off), run(on, spk=g)
    assert torch.equal(got.mel, want.mel) and torch.equal(got.durations, want.durations)
    mel, mel_lengths = randn(3, 30, 4, seed=3), torch.tensor([30, 24, 27])
    a = off.loss(mel, mel_lengths, ids, lengths, torch.Generator().manual_seed(4))
    b = on.loss(mel, mel_lengths, ids, lengths, torch.Generator().manual_seed(4), spk=g)
    assert torch.equal(a.loss, b.loss)


def test_the_output_follows_the_dvector_except_where_guidance_drops_it():
    model = random_model(tiny_config(cond_dim=6), seed=2)
    ids, lengths, durations = texts()
    g1, g2, noise = randn(3, 6, seed=0), randn(3, 6, seed=1), randn(3, 22, 4, seed=2)

    def mel(g, cfg):
        out = model.synthesize(
            ids, lengths, durations=durations, spk=g, nfe=2, cfg=cfg, noise=noise
        )
        return out.mel

    for cfg in (0.0, 2.0):
        assert not torch.allclose(mel(g1, cfg), mel(g2, cfg))
    hidden = [model.encode(ids, lengths, g) for g in (g1, g2)]
    log_dur = [model.duration_predictor(e.hidden, e.mask) for e in hidden]
    assert not torch.allclose(*log_dur)  # the durations follow the speaker too
    x, cond, mu = randn(3, 22, 4, seed=3), randn(3, 22, 4, seed=4), randn(3, 22, 4, seed=5)
    t, mask = torch.rand(3, dtype=torch.float64), torch.ones(3, 22, dtype=torch.bool)
    drop = torch.tensor([True, False, True])  # rows 0 and 2: the unconditional branch
    v1, v2 = (model.decoder(x, cond, mu, t, mask, drop, drop, g) for g in (g1, g2))
    assert torch.equal(v1[drop], v2[drop]) and not torch.allclose(v1[~drop], v2[~drop])
    mel_in, mel_lengths = randn(3, 30, 4, seed=6), torch.tensor([30, 24, 27])
    draw = model.draw_training(mel_lengths, 30, torch.Generator().manual_seed(7), torch.float64)
    every = torch.ones(3, dtype=torch.bool)
    dropped = AlignedDraw(draw.span_mask, draw.x_0, draw.t, every, every)
    flows = [model(mel_in, mel_lengths, ids, lengths, dropped, g).flow for g in (g1, g2)]
    assert torch.equal(*flows)  # training's unconditional rows see no speaker either
    with pytest.raises(FlowvoxError, match=r"spk \(3, 5\)"):
        model.synthesize(ids, lengths, durations=durations, spk=g1[:, :5], nfe=1)
    with pytest.raises(FlowvoxError, match="speaker vector"):
        model.decoder(x, cond, mu, t, mask, drop, drop)


def test_training_draws_another_utterances_cached_dvector(
    tmp_path, prepared, build_task, monkeypatch
):
    counter = counting_encoders(monkeypatch)
    task = build_task(SPEAKER_MODEL)
    data = task.train_data()
    assert counter.calls == 6 and (prepared / DVECTOR_FILE).is_file()  # the train split
    entries = data.dataset.entries
    assert torch.equal(task.speakers.table, cached_dvectors(prepared, [e.audio for e in entries]))
    assert counter.calls == 6
    torch.manual_seed(0)
    model = randomize(task.build_modules()["model"])
    batch = data.collate([data.dataset[i] for i in range(len(entries))])
    utt = batch.utterances
    gen = torch.Generator().manual_seed(5)
    out = task.training_step({"model": model}, batch, StepContext(0, 0, utt.mel.device, gen, gen))
    again = torch.Generator().manual_seed(5)
    draw = model.draw_training(utt.mel_lengths, utt.mel.shape[1], again, utt.mel.dtype)
    partners = task.speakers.partners(utt.indices, again)  # drawn after the step's other draws
    for i, j in zip(utt.indices.tolist(), partners.tolist(), strict=True):
        alone = entries[i].speaker == "solo"
        assert entries[j].speaker == entries[i].speaker and (j == i) == alone
    inputs = (utt.mel, utt.mel_lengths, batch.ids, batch.lengths, draw)
    want = model(*inputs, task.speakers.table[partners])
    own = model(*inputs, task.speakers.own(utt.indices))
    assert torch.equal(out.loss, want.loss) and not torch.equal(out.loss, own.loss)
    sink = RecordingSink()
    task.log_media({"model": model}, 0, sink)  # with the media utterance's own d-vector
    assert counter.calls == 7 and "media/frames_error" in sink.scalars
    build_task(SPEAKER_MODEL).train_data()  # a second start reads the cache
    assert counter.calls == 7
    sf.write(entries[2].audio, speaker_wav("a", 9), 24000)  # an utterance changes
    build_task(SPEAKER_MODEL).train_data()
    assert counter.calls == 8
    with pytest.raises(FlowvoxError, match="cond_dim=8: the speaker d-vectors"):
        build_task({**MODEL, "cond_dim": 8})
    with pytest.raises(FlowvoxError, match="reflow_pairs"):
        build_task(SPEAKER_MODEL, reflow_pairs=str(tmp_path))


def test_an_exported_model_speaks_with_the_reference_clips_dvector(
    tmp_path, prepared, run_dict, monkeypatch
):
    """resemblyzer itself on both sides: the cache at training start, the reference in speak."""
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump({**run_dict(tmp_path / "run"), "model": SPEAKER_MODEL}))
    result = train_from_config(path)
    assert result.step == 2
    config = json.loads((result.export_dir / "config.json").read_text())
    assert config["model"]["cond_dim"] == DVECTOR_DIM
    with safe_open(str(prepared / DVECTOR_FILE), framework="pt") as fh:
        assert fh.metadata()["encoder"] == dvector_encoder_name()
        assert fh.get_tensor("dvectors").shape[0] >= 6
    folder = tmp_path / "model"
    shutil.copytree(result.export_dir, folder)
    sf.write(folder / "reference.wav", speaker_wav("b", 4), 24000)  # the default prompt
    (folder / "reference.txt").write_text(UTTERANCES[4][0])
    ref_wav = tmp_path / "ref.wav"
    sf.write(ref_wav, speech_like(1.2), 24000)
    seen = []
    synthesize = AlignedTTS.synthesize

    def spy(self, *args, **kwargs):
        seen.append(kwargs["spk"])
        return synthesize(self, *args, **kwargs)

    monkeypatch.setattr(AlignedTTS, "synthesize", spy)
    tts = Synthesizer.from_pretrained(
        folder, vocoder=cheap_vocoder(), transcriber=CountingTranscriber()
    )
    speech = tts.speak("we sing. ok go.", ref_audio=ref_wav, ref_text="a cat sat.", nfe=2, seed=0)
    assert speech.duration > 0.1 and bool(torch.isfinite(torch.from_numpy(speech.wav)).all())
    ref = tts.reference(ref_wav, "a cat sat.")
    direct = DVectorEncoder()(ref.wav, ref.sample_rate)
    torch.testing.assert_close(ref.dvector, torch.from_numpy(direct))
    assert torch.equal(seen[-1], ref.dvector.expand(len(seen[-1]), DVECTOR_DIM))
    tts.speak("hello there", nfe=1, seed=0)  # the default prompt brings its own d-vector
    default = tts.reference()
    assert torch.equal(seen[-1][0], default.dvector)
    assert not torch.allclose(default.dvector, ref.dvector)
