"""Fine-tuning that adds a speaker vector (``init_from`` a folder with ``cond_dim`` 0, the run's
``model.cond_dim`` 256; ``flowvox.models.finetune``): the speaker projections start at zero,
so the grown model gives the start model's outputs for any d-vector, and they get gradients;
the vocab grows alongside; ``flowvox train`` runs it with the d-vector cache; dropping a
speaker vector, or changing another shape, is a one-line refusal."""
# b: batch, n: frames, f: mel bins, l: text tokens, k: d-vector channels

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file

from flowvox.audio.dvector import DVECTOR_DIM
from flowvox.cli.main import main
from flowvox.data.dvectors import DVECTOR_FILE
from flowvox.errors import FlowvoxError
from flowvox.models.aligned.config import AlignedTTSConfig
from flowvox.models.aligned.model import AlignedTTS
from flowvox.models.finetune import speaker_weights
from flowvox.models.infill import InfillTTS, InfillTTSConfig
from flowvox.models.loading import load_model_dir, resolve_model_section
from flowvox.nn.masks import pad_ids
from flowvox.text import load_vocab
from flowvox.train import StepContext, load_run_config
from flowvox.train.registry import resolve_task
from flowvox.utils.config import config_from_dict
from tests.models.dvector_helpers import SpeakersCorpus, counting_encoders
from tests.models.task_helpers import task_run_dict

CORPUS = SpeakersCorpus()  # the ``prepared`` fixture (conftest.py): speakers a, b and solo
MODELS = {  # name -> (task, model class, config class, model section of the start model)
    "aligned": (
        "aligned_tts", AlignedTTS, AlignedTTSConfig,
        {"preset": "tiny", "dim": 32, "heads": 2, "enc_dim": 32, "enc_ffn_dim": 64},
    ),
    "infill-dit": (
        "infill_tts", InfillTTS, InfillTTSConfig,
        {"preset": "tiny", "dim": 32, "heads": 2, "text_dim": 32, "conv_layers": 1},
    ),
    "infill-e2": (
        "infill_tts", InfillTTS, InfillTTSConfig,
        {"preset": "e2_tiny", "dim": 32, "heads": 2},
    ),
}  # fmt: skip
SPEAKER_KEYS = {  # what cond_dim adds, per family
    "aligned": {"encoder.cond_proj", "decoder.cond_embed"},
    "infill-dit": {"transformer.cond_embed.proj"},
    "infill-e2": {"transformer.cond_embed.proj"},
}
LATER = set("zq")  # characters the "part" vocab lacks (the data's "zebra quiz")
OLD_TEXT = "a cat sat. we go"  # characters every vocab has
TRAIN = {"max_steps": 2, "max_frames": 200, "checkpoint_every": 2}
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def save_start(name: str, prepared: Path, folder: Path, vocab: str, cond_dim: int = 0) -> Path:
    """A model folder of ``name`` over the prepared vocab ("full") or that vocab without
    LATER ("part"), every weight random (so every layer matters), no dropout."""
    _, model_cls, config_cls, section = MODELS[name]
    tokens = [t for t in load_vocab(prepared / "vocab.txt") if vocab == "full" or t not in LATER]
    folder.mkdir(parents=True)
    (folder.parent / f"{folder.name}.vocab.txt").write_text("\n".join(tokens) + "\n")
    config = resolve_model_section(config_cls, section, len(tokens))
    torch.manual_seed(0)
    model = model_cls(config.replace(dropout=0.0, cond_dim=cond_dim))
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn_like(p) * 0.1)
    return model.save_pretrained(folder, vocab=folder.parent / f"{folder.name}.vocab.txt")


def grown_task(name: str, start: Path, prepared: Path, model: dict | None = None):
    """``name``'s task over ``prepared`` from ``start``, model section {cond_dim: 256}."""
    task_cls = resolve_task(MODELS[name][0])
    data = {"prepared": str(prepared), "min_item_frames": 4}
    fields = {"data": data, "init_from": str(start), "model": model or {"cond_dim": DVECTOR_DIM}}
    return task_cls(config_from_dict(task_cls.config_class, fields))


def outputs(model, ids: list[int], spk: torch.Tensor | None) -> list[torch.Tensor]:
    """What ``model`` computes for text ``ids`` on fixed inputs, two rows (the second with
    its prompt dropped), speaker vectors ``spk`` (2, k) or None (eval mode)."""
    g = torch.Generator().manual_seed(3)
    n = 2 * len(ids) + 6
    mel = torch.randn(2, n, 100, generator=g)  # (b, n, f)
    extra = {} if spk is None else {"spk": spk}
    model.eval()
    with torch.no_grad():
        if isinstance(model, InfillTTS):
            x, t = torch.randn(2, n, 100, generator=g), torch.tensor([0.3, 0.8])
            drop = torch.tensor([False, True])
            return [model(x, mel, torch.tensor([ids, ids]), t, drop_audio_cond=drop, **extra)]
        padded, lengths = pad_ids([ids, ids[:-3]])  # (b, l), (b,)
        frames = torch.tensor([n, n - 4])
        loss = model.loss(mel, frames, padded, lengths, torch.Generator().manual_seed(5), **extra)
        durations = torch.full((2, 2 * len(ids) + 1), 2).masked_fill(
            torch.arange(2 * len(ids) + 1) >= 2 * lengths[:, None] + 1, 0
        )  # (b, l) 2 frames per real token, blanks included
        gen = torch.Generator().manual_seed(6)
        syn = model.synthesize(
            padded, lengths, durations=durations, nfe=2, cfg=0.7, generator=gen, **extra
        )
        return [loss.flow, loss.prior, loss.duration, syn.mel]


@pytest.mark.parametrize("vocab", ["full", "part"])
@pytest.mark.parametrize("name", list(MODELS))
def test_the_grown_model_gives_the_start_models_outputs_for_any_dvector(
    name, vocab, prepared, tmp_path
):
    start = save_start(name, prepared, tmp_path / "start", vocab)
    old = load_model_dir(start, MODELS[name][1])
    task = grown_task(name, start, prepared)
    assert task.model_config.cond_dim == DVECTOR_DIM  # {cond_dim: 256} over the folder's
    assert task.model_config.dim == 32 and task.model_config.dropout == 0.0
    assert bool(task.config.new_tokens) == (vocab == "part")  # the vocab grows alongside
    assert set(task.config.new_tokens or []) == (LATER if vocab == "part" else set())
    new = task.build_modules()["model"]  # what `flowvox train` builds: start_weights
    added = {k.rsplit(".", 1)[0] for k in set(new.state_dict()) - set(old.model.state_dict())}
    assert added == SPEAKER_KEYS[name] and set(speaker_weights(new)) == {
        f"{m}.{p}" for m in added for p in ("weight", "bias")
    }
    for key in speaker_weights(new):  # W = 0 and b = 0: W g + b adds nothing
        assert not new.state_dict()[key].any()
    ids = task.text.encode(OLD_TEXT)
    assert ids == old.tokenizer.encode(OLD_TEXT)
    want = outputs(old.model, ids, None)
    gen = torch.Generator().manual_seed(11)
    for scale in (1.0, 10.0):  # random d-vectors, and large ones
        spk = torch.randn(2, DVECTOR_DIM, generator=gen) * scale  # (b, k)
        for a, b in zip(want, outputs(new, ids, spk), strict=True):
            torch.testing.assert_close(b, a, atol=1e-6, rtol=0)
    if vocab == "part":  # the new symbols' rows were drawn, the old ones kept
        new_ids = task.text.encode("zq")
        assert all(i >= old.tokenizer.vocab_size for i in new_ids)


@pytest.mark.parametrize("name", ["aligned", "infill-dit"])
def test_the_speaker_weights_get_gradients_in_a_training_step(
    name, prepared, tmp_path, monkeypatch
):
    counting_encoders(monkeypatch)  # a cheap stand-in for resemblyzer
    task = grown_task(name, save_start(name, prepared, tmp_path / "start", "part"), prepared)
    data = task.train_data()  # the d-vector cache, as a fresh cond_dim run builds it
    assert task.speakers is not None and task.speakers.table.shape[1] == DVECTOR_DIM
    assert (prepared / DVECTOR_FILE).is_file()
    model = task.build_modules()["model"].train()
    batch = data.collate([data.dataset[i] for i in range(len(data.dataset))])
    gen = torch.Generator().manual_seed(4)
    out = task.training_step({"model": model}, batch, StepContext(0, 0, "cpu", gen, gen))
    out.loss.backward()
    params = dict(model.named_parameters())
    for key in speaker_weights(model):
        grad = params[key].grad
        assert grad is not None and float(grad.abs().sum()) > 0, key


def run_file(name: str, start: Path, prepared: Path, out_dir: Path, path: Path) -> Path:
    """``path``: a run file of ``name``'s task from ``start``, its model section unset."""
    run = task_run_dict(MODELS[name][0], {}, prepared, out_dir, **TRAIN)
    del run["model"]  # init_from's model
    path.write_text(yaml.safe_dump({**run, "init_from": str(start)}))
    return path


@pytest.mark.parametrize("name", ["aligned", "infill-dit"])
def test_flowvox_train_adds_a_speaker_vector_to_an_init_from_model(
    name, prepared, tmp_path, monkeypatch
):
    counter = counting_encoders(monkeypatch)
    (prepared / DVECTOR_FILE).unlink(missing_ok=True)  # as before a first cond_dim run
    start = save_start(name, prepared, tmp_path / "start", "part")
    path = run_file(name, start, prepared, tmp_path / "run", tmp_path / "run.yaml")
    assert main(["train", str(path), "--set", f"model.cond_dim={DVECTOR_DIM}"]) == 0
    export = tmp_path / "run" / "model"
    record = json.loads((export / "config.json").read_text())
    assert record["init_from"] == str(start) and record["model"]["cond_dim"] == DVECTOR_DIM
    assert set(record["new_tokens"]) == LATER
    assert counter.calls >= 6 and (prepared / DVECTOR_FILE).is_file()  # the 6 train clips
    loaded = load_model_dir(export, MODELS[name][1])
    assert loaded.config.cond_dim == DVECTOR_DIM
    weights = load_file(export / "model.safetensors")
    for key in speaker_weights(loaded.model):  # trained away from their zero start
        assert weights[key].abs().sum() > 0, key


@pytest.mark.parametrize(
    "case, expected",
    [
        ("drop", "has a speaker vector (cond_dim=256) that the run's model drops"),
        ("other dim", "wrong shape"),
    ],
)
def test_refusals_are_one_line(case, expected, prepared, tmp_path, capsys):
    cond_dim = DVECTOR_DIM if case == "drop" else 0
    start = save_start("aligned", prepared, tmp_path / "start", "full", cond_dim)
    path = run_file("aligned", start, prepared, tmp_path / "run", tmp_path / "run.yaml")
    sets = ["model.cond_dim=0"] if case == "drop" else ["model.cond_dim=256", "model.dim=48"]
    assert main(["train", str(path), "--set", *sets]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("flowvox: error: ") and expected in err
    assert "Traceback" not in err and not (tmp_path / "run").exists()  # nothing written
    if case == "drop":  # the library call says the same
        task = grown_task("aligned", start, prepared, {"cond_dim": 0})
        with pytest.raises(FlowvoxError, match="set model.cond_dim=256$"):
            task.build_modules()


def test_the_documented_command_grows_the_bundled_voice(prepared):
    """docs/training.md: configs/voice-en7.yaml with init_from=flowvox/default_voice and
    model.cond_dim=256 builds the bundled voice with a speaker vector that changes nothing."""
    voice = REPO / "flowvox" / "default_voice"
    sets = [f"init_from={voice}", f"model.cond_dim={DVECTOR_DIM}", f"data.prepared={prepared}"]
    run = load_run_config(REPO / "configs" / "voice-en7.yaml", sets)
    task = resolve_task(run.task)(run.task_config)
    old = load_model_dir(voice, AlignedTTS)
    assert task.model_config.cond_dim == DVECTOR_DIM and old.config.cond_dim == 0
    new = task.build_modules()["model"]
    ids = task.text.encode("a cat sat")  # IPA symbols the bundled voice has
    assert len(ids) > 5 and max(ids) < old.tokenizer.vocab_size
    spk = torch.randn(2, DVECTOR_DIM, generator=torch.Generator().manual_seed(0))
    for a, b in zip(outputs(old.model, ids, None), outputs(new, ids, spk), strict=True):
        torch.testing.assert_close(b, a, atol=1e-6, rtol=0)
