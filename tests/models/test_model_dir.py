"""Model directories of every family: one loader, one wording per mistake; shared presets."""

from __future__ import annotations

import json
import re
import shutil

import pytest
import torch
from safetensors.torch import save_file

from flowvox.errors import FlowvoxError
from flowvox.models.aligned.config import AlignedTTSConfig
from flowvox.models.aligned.load import LoadedAlignedModel, load_aligned_model
from flowvox.models.aligned.model import AlignedTTS
from flowvox.models.fastpitch.config import FastPitchConfig
from flowvox.models.fastpitch.load import LoadedFastPitch, load_fastpitch_model
from flowvox.models.fastpitch.model import FastPitch
from flowvox.models.infill.config import InfillTTSConfig
from flowvox.models.infill.load import LoadedInfillModel, load_infill_model
from flowvox.models.infill.model import InfillTTS
from flowvox.models.loading import LoadedModel, resolve_model_section, section_tokenizer

VOCAB = [" ", "a", "b", "c", "d"]
# family: (task, config class, model class, loader, what the loader returns, name in messages)
FAMILIES = {
    "infill_tts": (
        InfillTTSConfig, InfillTTS, load_infill_model, LoadedInfillModel, "an infilling TTS model"
    ),
    "aligned_tts": (
        AlignedTTSConfig, AlignedTTS, load_aligned_model, LoadedAlignedModel, "an aligned TTS model"
    ),
    "fastpitch": (
        FastPitchConfig, FastPitch, load_fastpitch_model, LoadedFastPitch, "a FastPitch model"
    ),
}  # fmt: skip


@pytest.fixture(scope="module")
def model_dirs(tmp_path_factory):
    """task -> (a good model directory: tiny preset, random weights, run config, vocab;
    the state dict saved there)."""
    dirs = {}
    for task, (config_cls, model_cls, *_) in FAMILIES.items():
        config = config_cls.preset("tiny").replace(text_vocab_size=len(VOCAB))
        folder = tmp_path_factory.mktemp(task)
        torch.manual_seed(0)
        state = {k: v.contiguous() for k, v in model_cls(config).state_dict().items()}
        save_file(state, folder / "model.safetensors")
        run = {"task": task, "out_dir": "runs/x", "model": config.to_dict()}
        (folder / "config.json").write_text(json.dumps(run))
        (folder / "vocab.txt").write_text("\n".join(VOCAB) + "\n")
        dirs[task] = folder, state
    return dirs


@pytest.mark.parametrize("task", list(FAMILIES))
def test_each_loader_returns_its_type_with_the_saved_weights(tmp_path, model_dirs, task):
    config_cls, _, load, loaded_cls, _ = FAMILIES[task]
    folder, state = model_dirs[task]
    loaded = load(folder)
    assert isinstance(loaded, LoadedModel) and type(loaded.config) is config_cls
    assert not loaded.model.training and loaded.tokenizer.tokens == tuple(VOCAB)
    got = loaded.model.state_dict()
    assert got.keys() == state.keys() and all(torch.equal(got[k], state[k]) for k in state)
    plain = tmp_path / "plain"  # a config.json holding the config fields directly
    shutil.copytree(folder, plain)
    (plain / "config.json").write_text(json.dumps(loaded.config.to_dict()))
    assert load(plain).config == loaded.config


@pytest.mark.parametrize("task", list(FAMILIES))
def test_models_save_and_load_themselves_with_the_family_stamp(tmp_path, model_dirs, task):
    """save_pretrained writes a stamped folder (format 1) that from_pretrained, the family's
    loader and the folder written before the stamp (format 0, "task") all read alike."""
    config_cls, model_cls, load, _, _ = FAMILIES[task]
    folder, state = model_dirs[task]
    model = load(folder).model
    saved = model.save_pretrained(tmp_path / "saved", vocab=folder / "vocab.txt")
    record = json.loads((saved / "config.json").read_text())
    assert record["family"] == model_cls.family.name and record["format_version"] == 1
    assert record["model"] == model.config.to_dict() and model_cls.family.task == task
    again = model_cls.from_pretrained(saved)
    assert type(again) is model_cls and not again.training
    got = again.state_dict()
    assert all(torch.equal(got[k], state[k]) for k in state)
    assert load(saved).tokenizer.tokens == tuple(VOCAB)
    with pytest.raises(FlowvoxError, match="exists"):
        model.save_pretrained(saved)  # never over an existing folder
    others = [cls for _, cls, *_ in FAMILIES.values() if cls is not model_cls]
    with pytest.raises(FlowvoxError, match=f"family '{model_cls.family.name}' is not"):
        others[0].from_pretrained(saved)
    newer = tmp_path / "newer"
    shutil.copytree(saved, newer)
    (newer / "config.json").write_text(json.dumps({**record, "format_version": 99}))
    with pytest.raises(FlowvoxError, match="format_version 99 is newer"):
        load(newer)


def _edit_run(folder, change):
    path = folder / "config.json"
    run = json.loads(path.read_text())
    change(run)
    path.write_text(json.dumps(run))


MISTAKES = {  # name: (how to break a good directory, a fragment of the message)
    "no directory": (shutil.rmtree, "not found; pass --model DIR"),
    "no config": (lambda f: (f / "config.json").unlink(), "config.json not found"),
    "bad json": (lambda f: (f / "config.json").write_text("{"), "not a readable JSON file"),
    "not an object": (lambda f: (f / "config.json").write_text("[1]"), "expected a JSON object"),
    "other task": (lambda f: _edit_run(f, lambda r: r.update(task="vocoder")), "'vocoder'"),
    "no model section": (
        lambda f: _edit_run(f, lambda r: r.pop("model")), "'model' section is missing"
    ),
    "no vocab size": (
        lambda f: _edit_run(f, lambda r: r["model"].update(text_vocab_size=None)),
        "model.text_vocab_size is missing",
    ),
    "short vocab": (lambda f: (f / "vocab.txt").write_text(" \na\n"), "2 tokens"),
    "no weights": (lambda f: (f / "model.safetensors").unlink(), "model.safetensors not found"),
    "junk weights": (
        lambda f: (f / "model.safetensors").write_bytes(b"not tensors"),
        "not a readable safetensors file",
    ),
    "wrong keys": (
        lambda f: save_file({"extra": torch.zeros(2)}, f / "model.safetensors"),
        "unexpected 1: extra",
    ),
}  # fmt: skip


@pytest.mark.parametrize("mistake", list(MISTAKES))
def test_a_mistake_reads_the_same_for_every_family(tmp_path, model_dirs, mistake):
    """Each broken directory gives a one-line FlowvoxError that, with the path, the family's
    task and name and any (details) taken out, is the same text for all three families."""
    breaks, fragment = MISTAKES[mistake]
    messages = set()
    for task, (*_, load, _, label) in FAMILIES.items():
        broken = tmp_path / task
        shutil.copytree(model_dirs[task][0], broken)
        breaks(broken)
        with pytest.raises(FlowvoxError) as err:
            load(broken)
        text = str(err.value)
        assert fragment in text and "\n" not in text, text
        text = text.replace(str(broken), "DIR").replace(label, "FAMILY").replace(task, "TASK")
        messages.add(re.sub(r"\(.*\)", "(...)", text))
    assert len(messages) == 1, messages


@pytest.mark.parametrize("task", list(FAMILIES))
def test_presets_and_model_sections_work_alike_in_every_family(task):
    config_cls = FAMILIES[task][0]
    family = config_cls.PRESET_FAMILY
    with pytest.raises(FlowvoxError, match=f"unknown {family} preset 'huge'; choose one of tiny"):
        config_cls.preset("huge")
    tiny = config_cls.preset("tiny")
    assert type(tiny) is config_cls and set(config_cls.PRESETS) >= {"tiny", "small"}
    assert config_cls.from_dict(tiny.to_dict()) == tiny
    assert config_cls.preset("tiny", ["dropout=0.0"]) == tiny.replace(dropout=0.0) != tiny
    by_fields = resolve_model_section(config_cls, tiny.to_dict(), 7)
    by_name = resolve_model_section(config_cls, "tiny", 7)
    by_preset = resolve_model_section(config_cls, {"preset": "tiny"}, 7)
    assert by_name == by_preset == by_fields and by_name.text_vocab_size == 7
    assert by_name.vocab_file == "vocab.txt"
    changed = resolve_model_section(config_cls, {"preset": "tiny", "dropout": 0.0}, 7)
    assert changed == by_name.replace(dropout=0.0)
    byte = resolve_model_section(config_cls, {"preset": "tiny", "tokenizer": "byte"}, 256)
    assert byte.vocab_file is None and byte.text_vocab_size == 256
    assert section_tokenizer(config_cls, "tiny") == "char"
    assert section_tokenizer(config_cls, {"preset": "tiny", "tokenizer": "byte"}) == "byte"
    with pytest.raises(FlowvoxError, match="model.text_vocab_size=3 but the vocab has 7"):
        resolve_model_section(config_cls, {"preset": "tiny", "text_vocab_size": 3}, 7)
