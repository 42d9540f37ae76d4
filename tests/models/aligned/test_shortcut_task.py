"""The ``aligned_shortcut_distill`` task: a fresh student is its teacher (guided, from a
guidance-distilled teacher), the step draw keeps t + d ≤ 1, the d > 0 target is two half
steps of the student, training learns a better one-step sample, resume, the run file through
`flowvox train`, `flowvox export` and `flowvox speak --nfe 1/2`, and one-line mistakes."""
# b: batch, n: frames, f: mel bins

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import soundfile as sf
import torch
import yaml
from safetensors.torch import load_file
from torch import nn

from flowvox.cli.main import main
from flowvox.errors import FlowvoxError
from flowvox.flow import flow_matching_loss
from flowvox.infer import Synthesizer
from flowvox.models.aligned.distill import DistillBatch, distill_batch
from flowvox.models.aligned.load import load_aligned_model
from flowvox.models.aligned.shortcut import (
    ShortcutDistillTask,
    draw_steps,
    rows_of,
    shortcut_target,
)
from flowvox.train import StepContext, Trainer, run_config_from_dict
from flowvox.utils.config import config_from_dict
from flowvox.vocoders import save_vocoder
from tests.infer.helpers import cheap_vocoder, speech_like
from tests.models.aligned_helpers import export_model, one_thread  # noqa: F401
from tests.models.task_helpers import QUIET_TRAIN, RecordingSink, ToneCorpus, assert_resume_is_exact

CORPUS = ToneCorpus(["a cat sat.", "dogs run far!"], ["held out"], seconds=0.3)
TASK = "aligned_shortcut_distill"
NEW_KEYS = {
    f"decoder.{name}_embed.time_mlp.{i}.{p}"
    for name in ("guidance", "step")
    for i in (0, 2)
    for p in ("weight", "bias")
}
RUN_FILE = Path(__file__).resolve().parents[3] / "configs" / "voice-en7-shortcut-distill.yaml"
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def teacher_dir(prepared, tmp_path_factory) -> Path:
    """A random tiny aligned model folder over the corpus' vocab (float32)."""
    return export_model(tmp_path_factory.mktemp("teacher") / "teacher", prepared, seed=1, scale=0.1)


@pytest.fixture(scope="module")
def guided_teacher_dir(prepared, tmp_path_factory) -> Path:
    """The same, guidance-distilled (``guidance_embed``; its embedding random, not zero)."""
    folder = tmp_path_factory.mktemp("guided") / "teacher"
    return export_model(folder, prepared, seed=2, scale=0.1, guidance_embed=True)


def run_dict(out_dir: Path, teacher: Path, prepared: Path, distill=None, **train) -> dict:
    return {
        "task": TASK,
        "out_dir": str(out_dir),
        "teacher": str(teacher),
        "train": {**QUIET_TRAIN, "max_frames": 400, "checkpoint_every": 100, **train},
        "model": {"dropout": 0.0},
        "data": {"prepared": str(prepared), "min_item_frames": 4},
        "distill": distill or {},
    }


@pytest.fixture
def build_task(teacher_dir, prepared):
    def make(teacher=None, **sections) -> ShortcutDistillTask:
        run = {"teacher": str(teacher or teacher_dir), "data": {"prepared": str(prepared),
               "min_item_frames": 4}, "model": {"dropout": 0.0}, **sections}  # fmt: skip
        return ShortcutDistillTask(config_from_dict(ShortcutDistillTask.config_class, run))

    return make


def whole_batch(task):
    data = task.train_data()
    return data.collate([data.dataset[i] for i in range(len(data.dataset))])


def velocity_args(b: int = 2, n: int = 9, f: int = 4):
    """x, cond, mu (b, n, f), t (b,), mask (b, n): a fixed draw."""
    gen = torch.Generator().manual_seed(0)
    x, cond, mu = (torch.randn(b, n, f, generator=gen) for _ in range(3))
    return x, cond, mu, torch.rand(b, generator=gen), torch.ones(b, n, dtype=torch.bool)


# ---------------------------------------------------------------- start and draws
@pytest.mark.parametrize("guided", [False, True])
def test_a_fresh_student_is_its_teacher_at_every_d(build_task, guided_teacher_dir, guided):
    """From a guidance-distilled teacher the student starts as the teacher's guided velocity;
    from a plain one as its conditional velocity (its guidance embedding is new, zero)."""
    task = build_task(teacher=guided_teacher_dir if guided else None)
    modules = task.build_modules()
    teacher, decoder = modules["teacher"], modules["decoder"].eval()
    assert task.model_config.step_embed and task.model_config.guidance_embed
    assert not any(p.requires_grad for p in task.student.encoder.parameters())
    x, cond, mu, t, mask = velocity_args(f=task.model_config.mel_dim)
    no, w = torch.zeros(2, dtype=torch.bool), torch.tensor([0.4, 1.6])
    want = teacher.decoder(x, cond, mu, t, mask, no, no, None, w if guided else None)
    for d in (0.0, 0.25, 1.0):
        got = decoder(x, cond, mu, t, mask, no, no, None, w, torch.full((2,), d))
        assert torch.equal(got, want), d
    if guided:  # the guided teacher's trained embedding is kept, not re-initialised
        key = "guidance_embed.time_mlp.2.weight"
        assert torch.equal(decoder.state_dict()[key], teacher.decoder.state_dict()[key])
        assert bool(decoder.state_dict()[key].abs().sum() > 0)


def test_step_draws_keep_t_plus_d_within_one_on_the_grid_of_d():
    t = torch.rand(4000, generator=torch.Generator().manual_seed(1))
    steps = draw_steps(t, 8, 0.25, torch.Generator().manual_seed(2))
    on = steps.shortcut
    assert 0.2 < float(on.float().mean()) < 0.3
    assert torch.equal(steps.t[~on], t[~on]) and bool((steps.d[~on] == 0).all())
    d, t_on = steps.d[on], steps.t[on]
    assert set(d.tolist()) == {1.0, 0.5, 0.25, 0.125}  # 2^-k, k = 0 .. log2(8)
    assert bool((t_on + d <= 1.0).all()) and bool((t_on >= 0).all())
    assert torch.equal(torch.round(t_on / d), t_on / d)  # t = j d
    assert float(t_on[d == 0.125].max()) == 0.875  # the last cell is drawn too
    assert torch.equal(steps.half, steps.d / 2)
    finest = steps.d == 0.125
    assert bool((steps.half_d[finest] == 0).all())  # two flow (d = 0) half steps
    assert torch.equal(steps.half_d[on & ~finest], steps.half[on & ~finest])


# ---------------------------------------------------------------- targets
class AffineDecoder(nn.Module):
    """v = -x + t + 2 w + 3 d (no grad through it matters here): a closed form to step."""

    def forward(self, x, cond, mu, t, mask, drop_audio, drop_text, g=None, w=None, d=None):
        v = -x + (t + 2 * w + 3 * d)[:, None, None]
        return v.masked_fill(~mask[..., None], 0.0)


def test_the_shortcut_target_is_the_mean_of_two_half_steps_closed_form():
    x, cond, mu, t, mask = velocity_args()
    mask[1, 6:] = False
    w = torch.tensor([0.5, 1.0])
    inputs = DistillBatch(x, cond, mu, t, w, mask, mask, None, torch.zeros_like(x))
    half, half_d = torch.tensor([0.25, 0.0625]), torch.tensor([0.25, 0.0])
    got = shortcut_target(AffineDecoder(), inputs, half, half_d)
    for row in range(2):
        h, c = float(half[row]), float(t[row] + 2 * w[row] + 3 * half_d[row])
        s1 = -x[row] + c
        s2 = -(x[row] + h * s1) + c + h
        want = ((s1 + s2) / 2).masked_fill(~mask[row][:, None], 0.0)
        torch.testing.assert_close(got[row], want)
    sub = rows_of(inputs, torch.tensor([1]))
    assert sub.x_t.shape == (1, 9, 4) and sub.spk is None and torch.equal(sub.w, w[1:])


@pytest.mark.parametrize(("frac", "guided"), [(1.0, False), (0.0, False), (0.0, True)])
def test_the_step_loss_on_a_fixed_draw(build_task, guided_teacher_dir, frac, guided):
    """frac 1: every row's target is two half steps of the student itself (through its own
    decoder calls here); frac 0: the teacher's guided velocity, as guidance distillation (one
    call of a guidance-distilled teacher)."""
    folder = guided_teacher_dir if guided else None
    task = build_task(folder, distill={"self_consistency_frac": frac, "max_steps": 4})
    modules = task.build_modules()
    teacher, decoder = modules["teacher"], modules["decoder"]
    with torch.no_grad():  # a student that has moved: d matters, and differs from the teacher
        for p in decoder.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=torch.Generator().manual_seed(p.numel())))
    batch = whole_batch(task)
    mel, lengths = batch.utterances.mel, batch.utterances.mel_lengths
    gen = torch.Generator().manual_seed(7)
    out = task.training_step(modules, batch, StepContext(0, 0, mel.device, gen, gen))
    again = torch.Generator().manual_seed(7)
    draw = teacher.draw_training(lengths, mel.shape[1], again, mel.dtype)
    w = task.draw_weights(2, again)
    steps = draw_steps(draw.t, 4, frac, again)
    inputs = distill_batch(teacher, batch, dataclasses.replace(draw, t=steps.t), w)
    no = torch.zeros(2, dtype=torch.bool)
    args = (inputs.cond, inputs.mu)
    if frac == 1.0:
        assert bool(steps.shortcut.all()) and bool((steps.d > 0).all())
        with torch.no_grad():
            s1 = decoder(inputs.x_t, *args, inputs.t, inputs.mask, no, no, None, w, steps.half_d)
            x_mid = inputs.x_t + steps.half[:, None, None] * s1
            t_mid = inputs.t + steps.half
            s2 = decoder(x_mid, *args, t_mid, inputs.mask, no, no, None, w, steps.half_d)
        target = (s1 + s2) / 2
    else:
        assert not bool(steps.shortcut.any()) and bool((steps.d == 0).all())
        for row in range(2):
            v = teacher.velocity_fn(inputs.cond, inputs.mu, inputs.mask, float(w[row]))
            torch.testing.assert_close(inputs.target[row], v(inputs.x_t, inputs.t)[row])
        target = inputs.target
    pred = decoder(inputs.x_t, *args, inputs.t, inputs.mask, no, no, None, w, steps.d)
    torch.testing.assert_close(out.loss, flow_matching_loss(pred, target, inputs.mask))
    assert float(out.loss.detach()) > 1e-5
    kind = "shortcut" if frac == 1.0 else "flow"
    torch.testing.assert_close(out.terms[kind], out.loss.detach())
    assert float(out.terms["flow" if frac == 1.0 else "shortcut"]) == 0.0


# ---------------------------------------------------------------- training
def one_step_errors(trainer) -> tuple[float, float]:
    """Mean squared distance to the teacher's 32-step sample (cfg 0.7, the same noise and
    durations, 3 seeds, both utterances): of the student's one-step sample, and of the
    teacher's own one-step sample."""
    teacher, decoder = trainer.modules["teacher"], trainer.modules["decoder"].eval()
    student = trainer.task._media_student(teacher, decoder)
    batch = whole_batch(trainer.task)
    errors = []
    with torch.no_grad():
        for seed in range(3):

            def mel(model, nfe, durations=None, seed=seed):
                gen = torch.Generator().manual_seed(seed)
                return model.synthesize(batch.ids, batch.lengths, durations=durations, nfe=nfe,
                                        cfg=0.7, generator=gen)  # fmt: skip

            ref = mel(teacher, 32)
            one = [mel(m, 1, ref.durations).mel for m in (student, teacher)]
            errors.append([float((m - ref.mel).square().mean()) for m in one])
    decoder.train()
    return tuple(sum(e[i] for e in errors) / 3 for i in range(2))


def test_training_makes_a_better_one_step_sample(tmp_path, teacher_dir, prepared):
    """150 steps (about 5 s), half the rows self-consistent, max_steps 8: the student's
    one-step sample comes to 0.62-0.65 of the teacher's one-step distance from the teacher's
    32-step sample (teacher seeds 1-3; bound 0.8). Checked to fail with no self-consistency
    rows (self_consistency_frac 0: guidance distillation alone): 1.05-1.13."""
    distill = {"self_consistency_frac": 0.5, "max_steps": 8}
    run = run_dict(tmp_path / "run", teacher_dir, prepared, distill, max_steps=150, ema_decay=0.0)
    trainer = Trainer(run_config_from_dict(run))
    start, teacher_one = one_step_errors(trainer)
    assert start == pytest.approx(teacher_one, rel=0.2)  # v_c at t = 0 vs the guided one
    trainer.fit()
    end, _ = one_step_errors(trainer)
    assert end < 0.8 * teacher_one, (start, end, teacher_one)


def test_resume_repeats_the_straight_run(tmp_path, teacher_dir, prepared):
    def make(out_dir):
        distill = {"self_consistency_frac": 0.5}
        return run_dict(out_dir, teacher_dir, prepared, distill, max_steps=3, checkpoint_every=1)

    assert_resume_is_exact(make, tmp_path, 2, 3, "decoder.step_embed.time_mlp.2.weight")
    folder = tmp_path / "a/checkpoints/step-0000003"
    assert all(k.startswith("decoder.") for k in load_file(folder / "model.safetensors"))
    assert not (folder / "sampling.json").exists()  # only the export carries one


def test_media_compares_the_two_step_student_with_the_32_step_teacher(build_task):
    task = build_task()
    assert task.config.media.nfe == 2
    modules = task.build_modules()
    sink, rows = RecordingSink(), []
    teacher = modules["teacher"]
    hook = teacher.decoder.register_forward_pre_hook(lambda m, args: rows.append(len(args[0])))
    try:
        with torch.no_grad():
            task.log_media({"decoder": modules["decoder"].eval(), "teacher": teacher}, 1, sink)
    finally:
        hook.remove()
    assert len(rows) == 32  # the teacher's reference sample (doubled batch, cfg 0.7)
    assert "mel/true_top_generated_bottom" in sink.images
    assert sink.scalars["media/l1_to_teacher"] > 1e-4


# ---------------------------------------------------------------- run file, export, speak
def test_run_file_trains_exports_and_speaks_in_one_and_two_steps(
    tmp_path, teacher_dir, prepared, capsys
):
    out = tmp_path / "run"
    sets = [f"teacher={teacher_dir}", f"data.prepared={prepared}", f"out_dir={out}",
            "train.max_steps=2", "train.tensorboard=false", "train.media_every=0",
            "data.min_item_frames=4"]  # fmt: skip
    assert main(["train", str(RUN_FILE), "--set", *sets]) == 0
    folder = out / "model"
    config = json.loads((folder / "config.json").read_text())
    assert config["family"] == "aligned" and config["task"] == TASK
    assert config["model"]["step_embed"] is True and config["model"]["guidance_embed"] is True
    assert len(config["teacher_weights_sha1"]) == 40
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model.safetensors",
                                                        "sampling.json", "vocab.txt"]  # fmt: skip
    sampling = json.loads((folder / "sampling.json").read_text())
    assert sampling == {"nfe": 2, "cfg": 0.7, "sway": 0.0, "solver": "euler"}
    weights = load_file(folder / "model.safetensors")
    teacher = load_file(teacher_dir / "model.safetensors")
    assert set(weights) == set(teacher) | NEW_KEYS
    key = "decoder.input_proj.weight"
    assert not torch.equal(weights[key], teacher[key])  # trained
    assert main(["export", str(out / "checkpoints/step-0000002"), str(tmp_path / "again")]) == 0
    again = load_file(tmp_path / "again/model.safetensors")
    assert again.keys() == weights.keys()
    assert all(torch.equal(again[k], weights[k]) for k in weights)
    assert (tmp_path / "again/sampling.json").read_text() == (folder / "sampling.json").read_text()
    assert load_aligned_model(tmp_path / "again").config.step_embed

    ref = tmp_path / "ref.wav"
    sf.write(ref, speech_like(1.0), 24000)
    voc = save_vocoder(tmp_path / "vocoder", cheap_vocoder())
    tts = Synthesizer.from_pretrained(folder, vocoder=str(voc))
    steps = []  # the step sizes d of each decoder call
    hook = tts.model.decoder.register_forward_pre_hook(lambda m, a: steps.append(a[9].tolist()))
    try:  # no sway or solver given: the folder's sampling.json makes the grid uniform
        for nfe in (1, 2):
            steps.clear()
            speech = tts.speak("a cat ran far", ref, "a cat sat.", nfe=nfe, seed=0)
            assert steps == [[1.0 / nfe]] * nfe and speech.duration > 0.05
    finally:
        hook.remove()
    args = ["speak", "a cat ran far", "--model", str(folder), "--vocoder", str(voc),
            "--ref-audio", str(ref), "--ref-text", "a cat sat."]  # fmt: skip
    for nfe in (1, 2):
        wav = tmp_path / f"out{nfe}.wav"
        assert main([*args, "-o", str(wav), "--nfe", str(nfe)]) == 0
        assert sf.info(wav).frames > 0
    wav = tmp_path / "sway.wav"
    capsys.readouterr()
    assert main([*args, "-o", str(wav), "--sway", "-1"]) == 2 and not wav.exists()
    err = capsys.readouterr().err
    assert "sway=-1.0: a shortcut model (step_embed)" in err and err.count("\n") == 1


def test_run_mistakes_are_one_line_errors(build_task, tmp_path, prepared, capsys):
    with pytest.raises(FlowvoxError, match="teacher is unset"):
        ShortcutDistillTask(config_from_dict(ShortcutDistillTask.config_class, {}))
    with pytest.raises(FlowvoxError, match="teacher=.*nowhere.*not found"):
        build_task(teacher=tmp_path / "nowhere")
    for steps in (12, 0):
        with pytest.raises(FlowvoxError, match=f"max_steps={steps}: use a power of two"):
            build_task(distill={"max_steps": steps})
    with pytest.raises(FlowvoxError, match="self_consistency_frac=1.5"):
        build_task(distill={"self_consistency_frac": 1.5})
    with pytest.raises(FlowvoxError, match="w_min=1.0, w_max=0.5"):
        build_task(distill={"w_min": 1.0, "w_max": 0.5})
    with pytest.raises(FlowvoxError, match="step_embed"):
        build_task(model={"step_embed": False})
    shortcut = export_model(tmp_path / "sc", prepared, step_embed=True, guidance_embed=True)
    with pytest.raises(FlowvoxError, match="already a shortcut model"):
        build_task(teacher=shortcut)
    run = run_dict(tmp_path / "run", tmp_path / "missing", prepared, max_steps=1)
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(run))
    capsys.readouterr()
    assert main(["train", str(path)]) == 2  # a missing teacher: one line, exit 2
    err = capsys.readouterr().err
    assert "teacher=" in err and "missing" in err and err.count("\n") == 1
