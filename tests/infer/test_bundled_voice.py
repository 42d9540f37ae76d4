"""The bundled default voice (flowvox/default_voice/): size, voices, defaults, and the main job
`flowvox speak "..." -o out.wav` with no flags at all."""

import numpy as np
import pytest
import soundfile as sf
import torch

from flowvox.cli.main import main
from flowvox.infer import Synthesizer
from flowvox.infer.model_dir import BUNDLED_DIR, named_voices, sampling_defaults

pytestmark = pytest.mark.skipif(
    not (BUNDLED_DIR / "model.safetensors").is_file(), reason="this checkout has no bundled voice"
)


@pytest.fixture(autouse=True)
def bundled_only(monkeypatch):
    monkeypatch.delenv("FLOWVOX_MODEL", raising=False)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_bundle_fits_and_names_its_voices_and_defaults():
    size = sum(p.stat().st_size for p in BUNDLED_DIR.rglob("*") if p.is_file())
    assert size <= 40 * 2**20  # issue 7: everything ≤ 40 MB
    voices, default = named_voices(BUNDLED_DIR)
    assert default == "flite-rms" and len(voices) == 7
    assert all(text for _, text in voices.values())  # no transcription needed at run time
    sampling = sampling_defaults(BUNDLED_DIR)
    assert 1 <= sampling["nfe"] <= 8 and 0 <= sampling["cfg"] <= 2


def test_main_job_speaks_with_no_flags(tmp_path, capsys):
    out = tmp_path / "hello.wav"
    assert main(["speak", "Hello there, how are you today?", "-o", str(out)]) == 0
    wav, rate = sf.read(out)
    assert rate == 24000 and 1.0 < len(wav) / rate < 4.0
    assert np.sqrt(np.mean(wav**2)) > 0.01  # speech, not silence
    other = tmp_path / "slt.wav"
    assert main(["speak", "Hello there.", "-o", str(other), "--voice", "flite-slt"]) == 0
    capsys.readouterr()


def test_each_named_voice_sounds_most_like_its_own_prompt():
    from flowvox.eval.speaker import SpeakerEncoder

    synth = Synthesizer.from_pretrained()
    encoder = SpeakerEncoder()
    names = ("flite-rms", "flite-slt")
    prompts = encoder.embed_files([synth.voice_prompt(n)[0] for n in names])  # (2, d)
    text = "The weather is lovely this morning, and the park is full of people."
    for row, name in enumerate(names):
        speech = synth.speak(text, *synth.voice_prompt(name), seed=0)
        own = encoder.embed(speech.wav, speech.sample_rate)
        sims = [encoder.similarity(own, prompt) for prompt in prompts]
        assert sims[row] > sims[1 - row], (name, sims)
