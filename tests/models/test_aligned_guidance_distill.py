"""Guidance distillation of the aligned family: the ``guidance_embed`` switch (off changes
nothing; on, a student copied from its teacher is the teacher's CONDITIONAL model and makes
one decoder call per step), the ``aligned_guidance_distill`` task (its target is the
teacher's guided velocity, training learns it, resume, export, speak, pack)."""
# b: batch, l: tokens, n: frames, f: mel bins, c: speaker channels

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import soundfile as sf
import torch
from safetensors.torch import load_file

from flowvox.cli.main import main
from flowvox.errors import FlowvoxError
from flowvox.flow import F5Guidance, flow_matching_loss, guided_velocity, solve, time_grid
from flowvox.infer import Synthesizer
from flowvox.infer.pack import pack_model
from flowvox.models.aligned.config import AlignedTTSConfig
from flowvox.models.aligned.distill import (
    GuidanceDistillTask,
    distill_batch,
    student_velocity,
    teacher_guided_velocity,
)
from flowvox.models.aligned.load import load_aligned_model
from flowvox.models.aligned.model import AlignedTTS
from flowvox.nn.duration import expand_by_durations
from flowvox.train import (
    StepContext,
    Trainer,
    export_checkpoint,
    load_run_config,
    run_config_from_dict,
)
from flowvox.utils.config import config_from_dict
from flowvox.vocoders import save_vocoder
from tests.infer.helpers import cheap_vocoder, speech_like
from tests.models.aligned_helpers import (
    export_model,
    one_thread,  # noqa: F401  (a module fixture)
    random_model,
    tiny_config,
)
from tests.models.task_helpers import QUIET_TRAIN, RecordingSink, ToneCorpus, assert_resume_is_exact

CORPUS = ToneCorpus(["a cat sat.", "dogs run far!"], ["held out"], seconds=0.3)
TASK = "aligned_guidance_distill"
GUIDANCE_KEYS = {
    f"decoder.guidance_embed.time_mlp.{i}.{p}" for i in (0, 2) for p in ("weight", "bias")
}
RUN_FILE = Path(__file__).resolve().parents[2] / "configs" / "voice-en7-guidance-distill.yaml"
pytestmark = pytest.mark.usefixtures("one_thread")


def texts():
    """ids (3, l0), lengths (3,) and fixed durations (3, 2 l0 + 1): 2 frames per token."""
    ids = torch.tensor([[1, 2, 3, 4, 5], [6, 7, 1, 0, 0], [2, 2, 3, 4, 0]])
    return ids, torch.tensor([5, 3, 4]), torch.full((3, 11), 2)


def randn(*shape, seed: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def student_of(teacher: AlignedTTS) -> AlignedTTS:
    """``teacher``'s weights in a ``guidance_embed`` model; the new embedding as initialised."""
    student = AlignedTTS(teacher.config.replace(guidance_embed=True)).to(torch.float64)
    new = {k: v for k, v in student.state_dict().items() if k not in teacher.state_dict()}
    assert set(new) == GUIDANCE_KEYS
    student.load_state_dict({**teacher.state_dict(), **new})
    return student.eval()


def doubled_batch_mel(model, ids, lengths, durations, spk, noise, cfg, nfe=3):
    """The mel of ``synthesize`` as it ran before the switch (no prompt): F5 guidance as one
    doubled batch through ``guided_velocity``, Euler steps on a uniform grid."""
    enc = model.encode(ids, lengths, spk)
    ex = expand_by_durations(enc.mu, durations.masked_fill(~enc.mask, 0))
    no = torch.zeros(ids.shape[0], dtype=torch.bool)
    rows = {"cond": torch.zeros_like(ex.x), "mu": ex.x, "mask": ex.mask, "drop": no, "spk": spk}

    def model_fn(x, t, c):
        return model.decoder(x, c["cond"], c["mu"], t, c["mask"], c["drop"], c["drop"], c["spk"])

    def velocity(x, t):
        return guided_velocity(model_fn, x, t, rows, {**rows, "drop": ~no}, F5Guidance(cfg))

    x = solve(velocity, noise, time_grid(nfe, dtype=noise.dtype), "euler").x
    return x.masked_fill(~ex.mask[..., None], 0.0)


def decoder_rows(model: AlignedTTS, run) -> tuple[list[int], object]:
    """The batch size of each decoder call made by ``run()``, and what it returned."""
    calls = []
    hook = model.decoder.register_forward_pre_hook(lambda m, args: calls.append(len(args[0])))
    try:
        result = run()
    finally:
        hook.remove()
    return calls, result


@pytest.fixture(scope="module")
def teacher_dir(prepared, tmp_path_factory) -> Path:
    """A random tiny aligned model folder over the corpus' vocab (float32)."""
    return export_model(tmp_path_factory.mktemp("teacher") / "teacher", prepared, seed=1, scale=0.1)


def run_dict(out_dir: Path, teacher: Path, prepared: Path, **train) -> dict:
    return {
        "task": TASK,
        "out_dir": str(out_dir),
        "teacher": str(teacher),
        "train": {**QUIET_TRAIN, "max_frames": 400, "checkpoint_every": 100, **train},
        "model": {"dropout": 0.0},
        "data": {"prepared": str(prepared), "min_item_frames": 4},
    }


@pytest.fixture
def build_task(teacher_dir, prepared):
    def make(**sections) -> GuidanceDistillTask:
        run = {"teacher": str(teacher_dir), "data": {"prepared": str(prepared),
               "min_item_frames": 4}, **sections}  # fmt: skip
        return GuidanceDistillTask(config_from_dict(GuidanceDistillTask.config_class, run))

    return make


# ---------------------------------------------------------------- the model switch
def test_switch_off_adds_no_weights_and_synthesizes_as_the_doubled_batch_did():
    assert AlignedTTSConfig().guidance_embed is False
    ids, lengths, durations = texts()
    for cond_dim in (0, 6):
        model = random_model(tiny_config(cond_dim=cond_dim), seed=2)
        assert not any("guidance" in key for key in model.state_dict())
        on = AlignedTTS(tiny_config(cond_dim=cond_dim, guidance_embed=True))
        assert set(on.state_dict()) - set(model.state_dict()) == GUIDANCE_KEYS
        spk = randn(3, 6, seed=0) if cond_dim else None
        noise = randn(3, 22, 4, seed=1)
        for cfg in (0.0, 0.7):
            got = model.synthesize(ids, lengths, durations=durations, spk=spk, nfe=3, cfg=cfg,
                                   noise=noise)  # fmt: skip
            want = doubled_batch_mel(model, ids, lengths, durations, spk, noise, cfg)
            assert torch.equal(got.mel, want), (cond_dim, cfg)
    x, mask, t = randn(3, 22, 4, seed=3), torch.ones(3, 22, dtype=torch.bool), randn(3, seed=4)
    no = torch.zeros(3, dtype=torch.bool)
    with pytest.raises(FlowvoxError, match="no guidance weight"):
        model.decoder(x, x, x, t, mask, no, no, spk, torch.ones(3))


@pytest.mark.parametrize("cond_dim", [0, 6])
def test_a_student_copied_from_its_teacher_is_the_teachers_conditional_model(cond_dim):
    teacher = random_model(tiny_config(cond_dim=cond_dim), seed=3)
    student = student_of(teacher)
    g = randn(3, 6, seed=0) if cond_dim else None
    x, cond, mu = randn(3, 22, 4, seed=1), randn(3, 22, 4, seed=2), randn(3, 22, 4, seed=3)
    t, mask = torch.rand(3, dtype=torch.float64), torch.ones(3, 22, dtype=torch.bool)
    no = torch.zeros(3, dtype=torch.bool)
    v_c = teacher.decoder(x, cond, mu, t, mask, no, no, g)
    for w in (0.0, 0.7, 2.0):
        v = student.decoder(x, cond, mu, t, mask, no, no, g, torch.full((3,), w))
        assert torch.equal(v, v_c), w  # GuidanceEmb(w) = 0 exactly: not guided yet
    ids, lengths, durations = texts()
    noise = randn(3, 22, 4, seed=4)

    def mel(model, cfg):
        return model.synthesize(ids, lengths, durations=durations, spk=g, nfe=2, cfg=cfg,
                                noise=noise).mel  # fmt: skip

    assert torch.equal(mel(student, 0.7), mel(teacher, 0.0))
    assert not torch.allclose(mel(student, 0.7), mel(teacher, 0.7))
    with torch.no_grad():  # a trained embedding: w is an input, the speaker still one
        student.decoder.guidance_embed.time_mlp[2].weight.normal_(0, 0.2)
    vs = [student.decoder(x, cond, mu, t, mask, no, no, g, torch.full((3,), w)) for w in (0.7, 2.0)]
    assert not torch.allclose(*vs)
    if cond_dim:
        other = student.decoder(
            x, cond, mu, t, mask, no, no, randn(3, 6, seed=5), torch.full((3,), 0.7)
        )
        assert not torch.allclose(other, vs[0])
    with pytest.raises(FlowvoxError, match="w=-1"):
        student.synthesize(ids, lengths, durations=durations, spk=g, nfe=1, cfg=-1.0)


def test_the_student_makes_one_decoder_call_per_step_the_teacher_two_rows_per_item():
    teacher = random_model(tiny_config(), seed=4)
    student = student_of(teacher)
    ids, lengths, durations = texts()
    for model, rows_per_call in ((student, 3), (teacher, 6)):
        rows, out = decoder_rows(
            model, lambda m=model: m.synthesize(ids, lengths, durations=durations, nfe=4, cfg=0.7)
        )
        assert rows == [rows_per_call] * 4 and out.nfe == 4


# ---------------------------------------------------------------- the task
def test_the_target_is_the_teachers_guided_velocity_and_the_student_starts_at_v_c(build_task):
    task = build_task(model={"dropout": 0.0}, distill={"loss_on": "span"})
    modules = task.build_modules()
    teacher, decoder = modules["teacher"], modules["decoder"].eval()
    assert not any(p.requires_grad for p in teacher.parameters())
    assert all(p.requires_grad for p in decoder.parameters())
    assert not any(p.requires_grad for p in task.student.encoder.parameters())
    data = task.train_data()
    batch = data.collate([data.dataset[i] for i in range(len(data.dataset))])
    mel, mel_lengths = batch.utterances.mel, batch.utterances.mel_lengths
    gen = torch.Generator().manual_seed(5)
    out = task.training_step(modules, batch, StepContext(0, 0, mel.device, gen, gen))
    again = torch.Generator().manual_seed(5)
    draw = teacher.draw_training(mel_lengths, mel.shape[1], again, mel.dtype)
    w = task.draw_weights(2, again)
    assert 0.0 <= float(w.min()) and float(w.max()) < 2.0
    inputs = distill_batch(teacher, batch, draw, w, loss_on="span")
    v_c = teacher.velocity_fn(inputs.cond, inputs.mu, inputs.mask, 0.0)(inputs.x_t, inputs.t)
    assert torch.equal(out.loss, flow_matching_loss(v_c, inputs.target, inputs.counted))
    assert float(out.loss.detach()) > 1e-4  # guidance moves the target away from v_c

    draw = dataclasses.replace(draw, drop_audio=torch.tensor([True, False]))
    w = torch.tensor([0.3, 1.7])
    inputs = distill_batch(teacher, batch, draw, w, loss_on="all")
    for row in range(2):
        guided = teacher.velocity_fn(inputs.cond, inputs.mu, inputs.mask, float(w[row]))
        want = guided(inputs.x_t, inputs.t)[row]
        torch.testing.assert_close(inputs.target[row], want, rtol=1e-5, atol=1e-6)
    assert not bool(inputs.cond[0].any())  # the row whose prompt is dropped: no prompt
    kept = ~draw.span_mask[1] & inputs.mask[1]
    assert torch.equal(inputs.cond[1][kept], mel[1][kept]) and bool(kept.any())
    assert not bool(inputs.cond[1][draw.span_mask[1]].any())
    assert torch.equal(inputs.counted, inputs.mask)
    s = teacher.config.effective_sigma_min
    t = draw.t[:, None, None]
    torch.testing.assert_close(inputs.x_t, (1 - (1 - s) * t) * draw.x_0 + t * mel)
    no = torch.zeros(2, dtype=torch.bool)
    v_c = teacher.decoder(inputs.x_t, inputs.cond, inputs.mu, inputs.t, inputs.mask, no, no)
    assert torch.equal(student_velocity(decoder, inputs), v_c)  # whatever w: not guided yet


def test_teacher_guided_velocity_has_a_weight_per_row():
    decoder = random_model(tiny_config(), seed=6).decoder
    x, cond, mu = randn(2, 9, 4, seed=1), randn(2, 9, 4, seed=2), randn(2, 9, 4, seed=3)
    t, mask = torch.rand(2, dtype=torch.float64), torch.ones(2, 9, dtype=torch.bool)
    no, yes = torch.zeros(2, dtype=torch.bool), torch.ones(2, dtype=torch.bool)
    v_c, v_u = (decoder(x, cond, mu, t, mask, d, d) for d in (no, yes))
    got = teacher_guided_velocity(decoder, x, cond, mu, t, mask, torch.tensor([0.5, 2.0]))
    for row, w in enumerate((0.5, 2.0)):
        torch.testing.assert_close(got[row], v_c[row] + w * (v_c[row] - v_u[row]))


def fixed_losses(trainer) -> tuple[float, float]:
    """On 3 fixed draws of both utterances: the mean squared error of the student against the
    teacher's guided velocity at w = 1.5 (through ``AlignedTTS.velocity_fn``, not the task's
    target code), and of the student's change from w = 0.2 to 1.5 against the teacher's."""
    teacher, decoder = trainer.modules["teacher"], trainer.modules["decoder"].eval()
    data = trainer.task.train_data()
    batch = data.collate([data.dataset[i] for i in range(2)])
    mel, lengths = batch.utterances.mel, batch.utterances.mel_lengths
    errors, slopes = [], []
    with torch.no_grad():
        for seed in range(3):
            draw = teacher.draw_training(lengths, mel.shape[1], torch.Generator().manual_seed(seed),
                                         mel.dtype)  # fmt: skip
            high = distill_batch(teacher, batch, draw, torch.full((2,), 1.5))
            low = dataclasses.replace(high, w=torch.full((2,), 0.2))
            v = {w: teacher.velocity_fn(high.cond, high.mu, high.mask, w)(high.x_t, high.t)
                 for w in (0.2, 1.5)}  # fmt: skip
            s_high, s_low = student_velocity(decoder, high), student_velocity(decoder, low)
            errors.append(float(flow_matching_loss(s_high, v[1.5], high.mask)))
            slopes.append(float(flow_matching_loss(s_high - s_low, v[1.5] - v[0.2], high.mask)))
    decoder.train()
    return sum(errors) / 3, sum(slopes) / 3


def test_training_learns_the_guided_velocity_and_its_dependence_on_w(
    tmp_path, teacher_dir, prepared
):
    """150 steps on 2 utterances (about 5 s): the error at w = 1.5 falls to 0.18-0.25 of its
    start and the w-slope error to 0.49-0.63 (teacher seeds 1-5; bounds 0.4 and 0.8). Checked
    to fail with a wrong target: v_c alone (w = 0) leaves the error at 1.0 of its start, a
    sign error (-w) takes it to 2.7, a fixed w = 0.5 for every item to 0.52, and those leave
    the slope error at about 1.0."""
    run = run_dict(tmp_path / "run", teacher_dir, prepared, max_steps=150, ema_decay=0.0)
    trainer = Trainer(run_config_from_dict(run))
    start, start_slope = fixed_losses(trainer)
    trainer.fit()
    end, end_slope = fixed_losses(trainer)
    assert start > 1e-3 and start_slope > 1e-3
    assert end < 0.4 * start, (start, end)
    assert end_slope < 0.8 * start_slope, (start_slope, end_slope)


def test_resume_repeats_the_straight_run(tmp_path, teacher_dir, prepared):
    def make(out_dir):
        return run_dict(out_dir, teacher_dir, prepared, max_steps=3, checkpoint_every=1)

    assert_resume_is_exact(make, tmp_path, 2, 3, "decoder.input_proj.weight")
    state = load_file(tmp_path / "a/checkpoints/step-0000003/model.safetensors")
    assert all(k.startswith("decoder.") for k in state)  # the teacher is not saved


def test_run_file_trains_exports_speaks_and_packs(tmp_path, teacher_dir, prepared):
    out = tmp_path / "run"
    sets = [f"teacher={teacher_dir}", f"data.prepared={prepared}", f"out_dir={out}",
            "train.max_steps=2", "train.tensorboard=false", "train.media_every=0",
            "data.min_item_frames=4"]  # fmt: skip
    assert load_run_config(RUN_FILE, sets).task == TASK
    assert main(["train", str(RUN_FILE), "--set", *sets]) == 0
    folder = out / "model"
    config = json.loads((folder / "config.json").read_text())
    assert config["family"] == "aligned" and config["model"]["guidance_embed"] is True
    assert config["teacher"] == str(teacher_dir) and len(config["teacher_weights_sha1"]) == 40
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model.safetensors",
                                                        "vocab.txt"]  # fmt: skip
    weights = load_file(folder / "model.safetensors")
    teacher = load_file(teacher_dir / "model.safetensors")
    ema = load_file(out / "checkpoints/step-0000002/ema.safetensors")
    assert set(weights) == set(teacher) | GUIDANCE_KEYS
    for key, value in weights.items():
        want = ema[key.removeprefix("decoder.")] if key.startswith("decoder.") else teacher[key]
        assert torch.equal(value, want), key
    key = "decoder.input_proj.weight"
    assert not torch.equal(weights[key], teacher[key])  # trained
    again = export_checkpoint(out / "checkpoints/step-0000002", tmp_path / "exported")
    assert load_file(again / "model.safetensors").keys() == weights.keys()
    for key, value in load_file(again / "model.safetensors").items():
        assert torch.equal(value, weights[key]), key  # `flowvox export` reads the teacher again
    loaded = load_aligned_model(folder)
    assert loaded.config.guidance_embed and loaded.tokenizer.tokens == load_aligned_model(
        teacher_dir).tokenizer.tokens  # fmt: skip

    ref = tmp_path / "ref.wav"
    sf.write(ref, speech_like(1.0), 24000)
    voc = save_vocoder(tmp_path / "vocoder", cheap_vocoder())
    tts = Synthesizer.from_pretrained(folder, vocoder=str(voc))
    calls, speech = decoder_rows(
        tts.model, lambda: tts.speak("a cat ran far", ref, "a cat sat.", nfe=3, cfg=0.7, seed=0)
    )
    assert speech.duration > 0.05 and bool(torch.isfinite(torch.from_numpy(speech.wav)).all())
    assert calls == [1, 1, 1]  # one chunk: one row per step, cfg 0.7 fed in as w
    wav = tmp_path / "out.wav"
    assert main(["speak", "a cat ran far", "-o", str(wav), "--model", str(folder), "--vocoder",
                 str(voc), "--ref-audio", str(ref), "--ref-text", "a cat sat.", "--nfe", "2",
                 "--cfg", "0.7"]) == 0  # fmt: skip
    assert sf.info(wav).frames > 0
    packed = pack_model(folder, tmp_path / "packed", voc, sampling={"nfe": 4, "cfg": 0.7})
    assert json.loads((packed.out_dir / "config.json").read_text())["model"]["guidance_embed"]
    Synthesizer.from_pretrained(packed.out_dir).speak("dogs sat", ref, "a cat sat.", nfe=2, seed=0)
    with pytest.raises(FlowvoxError, match="already guidance-distilled"):
        GuidanceDistillTask(config_from_dict(GuidanceDistillTask.config_class, {
            "teacher": str(folder), "data": {"prepared": str(prepared)}}))  # fmt: skip


def test_media_compares_the_student_with_the_teacher(build_task):
    for cfg in (0.0, 0.7):
        task = build_task(media={"nfe": 2, "cfg": cfg})
        modules = task.build_modules()
        sink = RecordingSink()
        with torch.no_grad():
            task.log_media({"decoder": modules["decoder"].eval(), "teacher": modules["teacher"]},
                           1, sink)  # fmt: skip
        assert "mel/true_top_generated_bottom" in sink.images
        value = sink.scalars["media/l1_to_teacher"]
        if cfg == 0.0:  # the student before training is the teacher's conditional model
            assert value == 0.0
        else:
            assert value > 1e-4, value


def test_run_mistakes_are_one_line_errors(build_task, tmp_path, prepared):
    with pytest.raises(FlowvoxError, match="teacher is unset"):
        GuidanceDistillTask(config_from_dict(GuidanceDistillTask.config_class, {}))
    with pytest.raises(FlowvoxError, match="teacher=.*nowhere.*not found"):
        build_task(teacher=str(tmp_path / "nowhere"))
    with pytest.raises(FlowvoxError, match="w_min=1.0, w_max=0.5"):
        build_task(distill={"w_min": 1.0, "w_max": 0.5})
    with pytest.raises(FlowvoxError, match="guidance_embed"):
        build_task(model={"guidance_embed": False})
    with pytest.raises(FlowvoxError, match="data.vocab"):
        build_task(data={"prepared": str(prepared), "vocab": str(prepared / "vocab.txt")})
    with pytest.raises(FlowvoxError, match="wrong shape"):
        build_task(model={"dim": 64}).build_modules()
