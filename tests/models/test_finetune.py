"""Fine-tuning to a new language (``init_from``, ``flowvox.models.finetune``): the old vocab
kept and the new data's symbols appended, old tokens' outputs unchanged before training, new
tokens trainable, checkpoints and exports carrying the extended vocab, exact resume, a
converted F5 folder as the start, and one-line refusals."""
# b: batch, n: frames, f: mel bins, l: text tokens

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import save_file

from flowvox.cli.main import main
from flowvox.errors import FlowvoxError
from flowvox.models.aligned.config import AlignedTTSConfig
from flowvox.models.aligned.model import AlignedTTS
from flowvox.models.fastpitch.config import FastPitchConfig
from flowvox.models.fastpitch.model import FastPitch
from flowvox.models.finetune import grow_token_rows, read_start
from flowvox.models.infill import InfillTTS, InfillTTSConfig
from flowvox.models.infill.convert_f5 import convert_f5
from flowvox.models.infill.load import load_infill_model
from flowvox.models.infill.task import InfillTaskConfig, InfillTTSTask
from flowvox.models.loading import resolve_model_section
from flowvox.nn.masks import pad_ids
from flowvox.text import load_vocab
from flowvox.train import Trainer, export_checkpoint, load_run_config, run_config_from_dict
from flowvox.train.registry import resolve_task
from flowvox.utils.config import config_from_dict
from tests.models.task_helpers import ToneCorpus, assert_resume_is_exact, task_run_dict

ENGLISH = ["a cat sat.", "dogs run far!", "we sing, you hum", "zebra quiz", "hello there", "ok go"]
SPANISH = ["¿qué tal?", "el niño come", "mañana sí", "está aquí", "una canción", "ven acá"]
OLD_TEXT = "we sat, a dog ran."  # only characters the English vocab has
FAMILIES = {  # task -> (model class, config class, model section)
    "infill_tts": (
        InfillTTS, InfillTTSConfig,
        {"preset": "tiny", "dim": 32, "heads": 2, "text_dim": 32, "conv_layers": 1},
    ),
    "aligned_tts": (
        AlignedTTS, AlignedTTSConfig,
        {"preset": "tiny", "dim": 32, "heads": 2, "enc_dim": 32, "enc_ffn_dim": 64},
    ),
    "fastpitch": (
        FastPitch, FastPitchConfig,
        {"preset": "tiny", "enc_dim": 32, "enc_ffn_dim": 64, "dec_ffn_dim": 64,
         "pred_hidden_dim": 32},
    ),
}  # fmt: skip
CONFIGS = Path(__file__).resolve().parents[2] / "configs"
TRAIN = {"max_steps": 2, "max_frames": 160, "checkpoint_every": 1}


@pytest.fixture(scope="module")
def english(tmp_path_factory) -> Path:
    return ToneCorpus(ENGLISH, ["held out"], seconds=0.3).prepare(tmp_path_factory.mktemp("en"))


@pytest.fixture(scope="module")
def spanish(tmp_path_factory) -> Path:
    corpus = ToneCorpus(SPANISH, ["¿dónde está?"], seconds=0.3)
    return corpus.prepare(tmp_path_factory.mktemp("es"))


def save_old_model(task: str, english: Path, folder: Path) -> Path:
    """A model of ``task``'s family over the English vocab, every weight random (so outputs
    depend on all of them, zero-initialised layers included), saved as a model folder."""
    model_cls, config_cls, section = FAMILIES[task]
    config = resolve_model_section(config_cls, section, len(load_vocab(english / "vocab.txt")))
    torch.manual_seed(0)
    model = model_cls(config.replace(dropout=0.0))
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn_like(p) * 0.1)
    return model.save_pretrained(folder, vocab=english / "vocab.txt")


@pytest.fixture(scope="module")
def old_models(english, tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("old")
    return {task: save_old_model(task, english, root / task) for task in FAMILIES}


def finetune_task(task: str, init_from: Path, spanish: Path, **sections):
    """``task`` over the Spanish folder, started from ``init_from``, model section unset."""
    task_cls = resolve_task(task)
    data = {"prepared": str(spanish), "min_item_frames": 4, **sections.pop("data", {})}
    fields = {"data": data, "init_from": str(init_from), **sections}
    return task_cls(config_from_dict(task_cls.config_class, fields))


def outputs(task: str, model, ids: list[int]) -> list[torch.Tensor]:
    """What ``model`` computes for text ``ids`` on a fixed mel (eval mode, no dropout)."""
    g = torch.Generator().manual_seed(3)
    n = 3 * len(ids) + 4
    mel = torch.randn(1, n, 100, generator=g)  # (b, n, f)
    model.eval()
    with torch.no_grad():
        if task == "infill_tts":
            x, t = torch.randn(1, n, 100, generator=g), torch.tensor([0.4])
            return [model(x, mel, torch.tensor([ids]), t)]  # (b, n, f)
        padded, lengths = pad_ids([ids])  # (b, l), (b,)
        frames = torch.tensor([n])
        if task == "aligned_tts":
            out = model.loss(mel, frames, padded, lengths, torch.Generator().manual_seed(5))
            return [out.flow, out.prior, out.duration]
        out = model(mel, frames, padded, lengths, torch.full((1, n), 180.0))
        return [out.mel, out.prior, out.duration, out.pitch, out.energy]


def test_the_vocab_is_the_old_one_then_the_new_symbols(old_models, english, spanish):
    task = finetune_task("infill_tts", old_models["infill_tts"], spanish)
    old = load_vocab(english / "vocab.txt")
    tokens = list(task.tokenizer.tokens)
    assert tokens[: len(old)] == old  # every old id kept
    missing = [t for t in load_vocab(spanish / "vocab.txt") if t not in old]
    assert {"ñ", "¿", "á", "í", "é", "ó"} <= set(missing)
    assert tokens[len(old) :] == missing and task.config.new_tokens == missing
    assert task.model_config.text_vocab_size == len(old) + len(missing)
    assert task.tokenizer.encode("ñ") == [len(old) + missing.index("ñ")]
    assert task.model_config.dim == 32 and task.model_config.conv_layers == 1  # init_from's


def test_recorded_new_tokens_are_appended_as_given(old_models, english, spanish):
    task = finetune_task("infill_tts", old_models["infill_tts"], spanish, new_tokens=["ñ", "a"])
    old = load_vocab(english / "vocab.txt")
    assert list(task.tokenizer.tokens) == [*old, "ñ"]  # "a" is old: not appended twice
    assert task.config.new_tokens == ["ñ"]
    fresh = {"data": {"prepared": str(spanish)}, "new_tokens": ["ñ"]}  # no init_from
    with pytest.raises(FlowvoxError, match="set init_from"):
        InfillTTSTask(config_from_dict(InfillTaskConfig, fresh))


@pytest.mark.parametrize("task", list(FAMILIES))
def test_old_text_gives_the_old_outputs_before_training(task, old_models, spanish):
    start = old_models[task]
    model_cls = FAMILIES[task][0]
    old = model_cls.from_pretrained(start)
    data = {"measure_stats": False} if task == "fastpitch" else {}
    ft = finetune_task(task, start, spanish, data=data)
    assert ft.config.new_tokens  # the vocab did grow
    new = ft.build_modules()["model"]
    assert new.config.text_vocab_size > old.config.text_vocab_size
    ids = ft.text.encode(OLD_TEXT)
    assert ids == read_start(start, model_cls.family).tokenizer.encode(OLD_TEXT)
    for a, b in zip(outputs(task, old, ids), outputs(task, new, ids), strict=True):
        assert torch.equal(a, b)


def test_new_symbols_encode_to_new_ids_run_and_get_gradients(old_models, spanish):
    ft = finetune_task("infill_tts", old_models["infill_tts"], spanish)
    model = ft.build_modules()["model"].train()
    size = len(load_vocab(old_models["infill_tts"] / "vocab.txt"))
    ids = ft.text.encode("¿el niño, ok!")
    used = sorted({i for i in ids if i >= size})
    assert {ft.tokenizer.decode([i]) for i in used} == {"¿", "ñ"}
    g = torch.Generator().manual_seed(0)
    x, cond = torch.randn(2, 1, 30, 100, generator=g)  # (b, n, f) each
    velocity = model(x, cond, torch.tensor([ids]), torch.tensor([0.5]))  # (b, n, f)
    assert bool(torch.isfinite(velocity).all())
    velocity.pow(2).mean().backward()
    grad = model.transformer.text_embed.text_embed.weight.grad  # row = id + 1 (filler first)
    unused = next(i for i in range(size, ft.tokenizer.vocab_size) if i not in used)
    assert all(grad[i + 1].abs().sum() > 0 for i in used)
    assert grad[unused + 1].abs().sum() == 0


@pytest.mark.parametrize("how", ["matched", "normal"])
def test_grow_token_rows_keeps_special_token_and_trailing_rows(how):
    g = torch.Generator().manual_seed(1)
    table = torch.randn(5, 3, generator=g) * 0.1 + 2.0  # filler, 3 tokens, blank: (5, 3)
    grown = grow_token_rows(table, 1, 3, 3 + 4000, how, torch.Generator().manual_seed(7))
    assert grown.shape == (4005, 3)
    assert torch.equal(grown[:4], table[:4]) and torch.equal(grown[-1], table[-1])
    new = grown[4:-1].double()  # (k, c)
    draw = torch.randn(4000, 3, generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    if how == "normal":  # F5's: N(0, 1)
        torch.testing.assert_close(new, draw.float().double())
    else:  # the old token rows' channel mean and std
        tokens = table[1:4].double()
        torch.testing.assert_close(new.mean(0), tokens.mean(0), atol=0.01, rtol=0)
        torch.testing.assert_close(new.std(0), tokens.std(0, correction=0), atol=0.01, rtol=0.05)


def test_training_from_init_exports_and_resumes_with_the_extended_vocab(
    old_models, english, spanish, tmp_path
):
    start = old_models["infill_tts"]

    def run_dict(out_dir: Path) -> dict:
        run = task_run_dict("infill_tts", {}, spanish, out_dir, **TRAIN)
        del run["model"]  # init_from's model
        return {**run, "init_from": str(start)}

    trainer = Trainer(run_config_from_dict(run_dict(tmp_path / "run")))
    extended = list(trainer.task.tokenizer.tokens)
    old = load_vocab(english / "vocab.txt")
    assert extended[: len(old)] == old and len(extended) > len(old)
    result = trainer.fit()
    assert result.step == 2
    for step in (1, 2):
        assert load_vocab(tmp_path / f"run/checkpoints/step-{step:07d}/vocab.txt") == extended
    assert load_vocab(result.export_dir / "vocab.txt") == extended
    record = json.loads((result.export_dir / "config.json").read_text())
    assert record["init_from"] == str(start) and record["new_tokens"] == extended[len(old) :]
    loaded = load_infill_model(result.export_dir)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no unknown-character warning
        assert loaded.tokenizer.encode("niño") == [extended.index(c) for c in "niño"]
    again = export_checkpoint(tmp_path / "run/checkpoints/step-0000001", tmp_path / "again")
    assert load_vocab(again / "vocab.txt") == extended
    assert_resume_is_exact(run_dict, tmp_path / "resume", 1, 2, "model.transformer.proj_out.weight")


def f5_release(path: Path, vocab: list[str]) -> None:
    """An F5-TTS release file (``ema_model.`` keys, fp32 safetensors) of a small random DiT."""
    config = InfillTTSConfig(
        dim=64, depth=2, heads=1, dim_head=64, text_dim=32, conv_layers=2, ff_mult=2.0,
        text_vocab_size=len(vocab), dropout=0.0,
    )  # fmt: skip
    torch.manual_seed(0)
    model = InfillTTS(config)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn_like(p) * 0.05)
    state = {f"ema_model.{k}": v.contiguous() for k, v in model.state_dict().items()}
    state["initted"], state["step"] = torch.tensor(True), torch.tensor(7)
    save_file(state, path)


def test_a_converted_f5_folder_starts_a_run(tmp_path, spanish):
    pytest.importorskip("rjieba")
    pytest.importorskip("pypinyin")
    vocab = [" ", *"abcdefghijklmnopqrstuvwxyz", ".", ",", "?", "ni3", "hao3"]
    (tmp_path / "vocab.txt").write_text("\n".join(vocab) + "\n")
    f5_release(tmp_path / "model.safetensors", vocab)
    convert_f5(tmp_path / "model.safetensors", tmp_path / "vocab.txt", tmp_path / "f5")
    old = load_infill_model(tmp_path / "f5")
    overrides = [f"init_from={tmp_path / 'f5'}", f"data.prepared={spanish}"]
    run = load_run_config(CONFIGS / "f5-finetune-es.yaml", overrides)
    ft = resolve_task(run.task)(run.task_config)
    assert ft.tokenizer.name == "pinyin" and ft.model_config.dim == 64
    assert list(ft.tokenizer.tokens[: len(vocab)]) == vocab
    assert {"ñ", "¿", "á"} <= set(ft.config.new_tokens) and "ni3" not in ft.config.new_tokens
    new = ft.build_modules()["model"]
    ids = ft.text.encode("ok, we sat?")
    assert ids == old.tokenizer.encode("ok, we sat?")
    assert torch.equal(outputs("infill_tts", old.model, ids)[0], outputs("infill_tts", new, ids)[0])
    assert all(i >= len(vocab) for i in ft.text.encode("ñ¿"))


def test_the_spanish_recipe_extends_the_bundled_voice(spanish):
    voice = Path(__file__).resolve().parents[2] / "flowvox" / "default_voice"
    overrides = [f"init_from={voice}", f"data.prepared={spanish}"]
    run = load_run_config(CONFIGS / "voice-es-finetune.yaml", overrides)
    task = resolve_task(run.task)(run.task_config)
    english = load_vocab(voice / "vocab.txt")
    assert task.tokenizer.name == "phoneme:es" and task.model_config.dim == 256
    assert list(task.tokenizer.tokens[: len(english)]) == english
    assert "ɲ" in task.config.new_tokens and "ɲ" not in english  # "niño", "mañana"
    table = task.build_modules()["model"].encoder.embed.weight.detach()  # (vocab + blank, c)
    old, new = table[: len(english)].norm(dim=1), table[len(english) : -1].norm(dim=1)
    assert 0.5 < float(new.mean() / old.mean()) < 2  # "matched": the trained rows' scale


@pytest.mark.parametrize(
    "case, expected",
    [
        ("other family", "is not an infilling TTS model"),
        ("no vocab", "vocab file"),
        ("other dim", "wrong shape"),
        ("byte tokenizer", "cannot continue a model whose tokenizer is 'char'"),
    ],
)
def test_refusals_are_one_line(case, expected, old_models, spanish, tmp_path, capsys):
    start, more = old_models["infill_tts"], []
    if case == "other family":
        start = old_models["aligned_tts"]
    elif case == "no vocab":
        start = tmp_path / "copy"
        start.mkdir()
        for name in ("config.json", "model.safetensors"):
            (start / name).write_bytes((old_models["infill_tts"] / name).read_bytes())
    elif case == "other dim":
        more = ["model.dim=48"]
    else:
        more = ["model.tokenizer=byte"]
    run = {**task_run_dict("infill_tts", {}, spanish, tmp_path / "run", **TRAIN)}
    del run["model"]
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump({**run, "init_from": str(start)}))
    assert main(["train", str(path), "--set", *more] if more else ["train", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("flowvox: error: ") and expected in err
    assert "Traceback" not in err and not (tmp_path / "run").exists()  # nothing written
