"""S2A (semantic tokens + voice prompt -> mel): the token -> frame map and its ratio, shapes,
the infilling loss counting the span only (with guidance dropout of prompt and tokens),
sampling that follows the seed and not the batch, bad jobs, and model folders."""
# b: batch, n: mel frames, f: mel bins

from __future__ import annotations

import json

import pytest
import torch

from flowvox.errors import FlowvoxError
from flowvox.models.semantic.config import SemanticConfig
from flowvox.models.semantic.model import SemanticTokenizer
from flowvox.models.semantic.s2a_config import S2AConfig
from flowvox.models.semantic.s2a_data import S2ACollate, S2AItem
from flowvox.models.semantic.s2a_model import S2A, S2ADraw, S2AJob, load_s2a, upsample_codes
from flowvox.models.semantic.t2s_fm_config import T2SFlowConfig
from flowvox.models.semantic.t2s_fm_model import T2SFlow


def tiny(seed: int = 0, **changes) -> S2A:
    """A tiny S2A whose zero-initialised output layers are perturbed (v ≠ 0)."""
    torch.manual_seed(seed)
    model = S2A(S2AConfig.preset("tiny").replace(**changes)).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return model


def test_the_token_to_frame_ratio_follows_the_mel_hop():
    vocos = S2AConfig.preset("tiny")  # 24 kHz, hop 256: 93.75 frames/s over 25 tokens/s
    assert vocos.frames_per_token == pytest.approx(3.75)
    # frame j reads token floor(j / 3.75): 4, 4, 4, 3 frames per token, 3.75 on average
    assert vocos.token_index(16, 5).tolist() == [0] * 4 + [1] * 4 + [2] * 4 + [3] * 3 + [4]
    assert torch.bincount(vocos.token_index(375, 100)).tolist() == [4, 4, 4, 3] * 25
    assert vocos.mel_frames(20) == 75 and vocos.mel_frames(1) == 4
    assert vocos.token_index(10, 2).tolist() == [0] * 4 + [1] * 6  # past the last: the last
    whisper = S2AConfig.preset("tiny", ["mel=whisper16k"])  # hop 160 at 16 kHz: exactly 4
    assert whisper.frames_per_token == 4.0 and whisper.mel_dim == 80
    assert torch.bincount(whisper.token_index(40, 10)).tolist() == [4] * 10
    assert upsample_codes(vocos, [7, 9, 11], 9).tolist() == [7, 7, 7, 7, 9, 9, 9, 9, 11]
    with pytest.raises(FlowvoxError, match="at least one code"):
        vocos.token_index(5, 0)


def test_shapes_and_zero_velocity_at_init():
    cfg = S2AConfig.preset("tiny")
    model = S2A(cfg)
    b, n, f = 2, 30, cfg.mel_dim
    codes = torch.randint(0, 512, (b, n))
    mask = torch.ones(b, n, dtype=torch.bool)
    args = (torch.randn(b, n, f), torch.randn(b, n, f), codes, torch.rand(b), mask)
    assert f == 100 and torch.equal(model(*args), torch.zeros(b, n, f))  # AdaLN-zero
    out = tiny()(*args)
    assert out.shape == (b, n, f) and out.abs().sum() > 0
    n_small = sum(p.numel() for p in S2A(S2AConfig.preset("small")).parameters())
    assert 12e6 < n_small < 20e6


def test_the_loss_counts_the_infilled_span_only_and_drops_prompt_and_tokens():
    model = tiny()
    cfg = model.config
    b, n, f = 3, 24, cfg.mel_dim
    lengths = torch.tensor([24, 20, 16])
    mel = torch.randn(b, n, f)
    frame_codes = torch.randint(0, 512, (b, n))
    draw = model.draw_training(lengths, n, torch.Generator().manual_seed(0), mel.dtype)
    span = draw.span_mask
    assert not (span & (torch.arange(n)[None] >= lengths[:, None])).any()
    assert ((span.sum(1) >= (0.7 * lengths).floor()) & (span.sum(1) <= lengths)).all()
    draw = S2ADraw(span, draw.x_0, draw.t, torch.tensor([False, True, True]),
                   torch.tensor([False, False, True]))  # fmt: skip
    seen = {}
    pred = torch.randn(b, n, f)

    def fake(x_t, cond, codes, t, mask):
        seen.update(cond=cond, codes=codes, mask=mask)
        return pred

    out = model.loss_with_draw(mel, lengths, frame_codes, draw, fake)
    want = ((pred - out.target) ** 2 * span[..., None]).sum() / (span.sum() * f)
    assert out.loss == pytest.approx(float(want), rel=1e-5)
    assert int(out.span_frames) == int(span.sum())
    assert torch.equal(out.cond, mel.masked_fill(span[..., None], 0.0))  # the voice prompt
    assert torch.equal(seen["cond"][0], out.cond[0]) and not seen["cond"][1:].any()
    assert torch.equal(seen["codes"][0], frame_codes[0])
    assert (seen["codes"][2] == cfg.mask_code).all()  # tokens dropped with the prompt
    assert (seen["codes"][1, 20:] == cfg.mask_code).all()  # padding reads the mask code
    assert torch.equal(seen["codes"][1, :20], frame_codes[1, :20])
    outside = pred.masked_fill(span[..., None], 0.0) * 100  # errors outside the span
    moved = model.loss_with_draw(mel, lengths, frame_codes, draw, lambda *a: pred + outside)
    assert torch.equal(moved.loss, out.loss)
    inside = model.loss_with_draw(mel, lengths, frame_codes, draw, lambda *a: pred + 1.0)
    assert inside.loss != out.loss
    real = model.loss(mel, lengths, frame_codes, torch.Generator().manual_seed(0))
    assert real.loss.ndim == 0 and torch.isfinite(real.loss) and real.loss > 0


def test_sampling_follows_the_seed_and_not_the_batch():
    model = tiny(seed=1)
    prompt = torch.randn(13, model.config.mel_dim)
    job = S2AJob(list(range(20, 28)), prompt, [1, 2, 3, 4], seed=5)
    other = S2AJob(list(range(40, 60)), torch.zeros(0, 100), [], seed=6)
    alone = model.sample([job], nfe=3, cfg=2.0)[0]
    assert alone.shape == (30, 100)  # round(8 · 3.75) frames; the prompt is not returned
    assert torch.equal(model.sample([job], nfe=3, cfg=2.0)[0], alone)
    batched = model.sample([other, job], nfe=3, cfg=2.0)
    assert batched[0].shape == (75, 100)
    torch.testing.assert_close(batched[1], alone, atol=1e-5, rtol=1e-4)
    reseeded = S2AJob(job.codes, prompt, job.prompt_codes, seed=7)
    assert not torch.allclose(model.sample([reseeded], nfe=3, cfg=2.0)[0], alone)
    assert not torch.allclose(model.sample([job], nfe=3, cfg=0.0)[0], alone)  # guidance acts
    new_prompt = S2AJob(job.codes, prompt + 1.0, job.prompt_codes, seed=5)
    assert not torch.allclose(model.sample([new_prompt], nfe=3, cfg=2.0)[0], alone)


@pytest.mark.parametrize(
    "job, match",
    [
        (S2AJob([1, 512], torch.zeros(0, 100), [], 0), "lie outside the 512-code book"),
        (S2AJob([], torch.zeros(0, 100), [], 0), "no semantic codes"),
        (S2AJob([1], torch.zeros(4, 100), [], 0), "needs both its mel and its codes"),
        (S2AJob([1], torch.zeros(4, 80), [1], 0), "prompt mel must be (r, 100)"),
        (S2AJob([1] * 800, torch.zeros(0, 100), [], 0), "exceed this S2A model's 2816"),
    ],
)  # fmt: skip
def test_bad_jobs_are_one_line_errors(job, match):
    with pytest.raises(FlowvoxError, match=match.replace("(", r"\(").replace(")", r"\)")):
        tiny().sample([job], nfe=1)


def test_collate_repeats_codes_to_each_mel(tmp_path):
    cfg = S2AConfig.preset("tiny")
    items = [S2AItem(torch.randn(9, 100), [5, 6, 7]), S2AItem(torch.randn(4, 100), [8])]
    batch = S2ACollate(cfg)(items)
    assert batch.mel.shape == (2, 9, 100) and batch.lengths.tolist() == [9, 4]
    assert batch.frame_codes.tolist() == [[5] * 4 + [6] * 4 + [7], [8] * 4 + [512] * 5]


def test_folders_round_trip_with_the_tokenizer_inside(tmp_path):
    SemanticTokenizer(SemanticConfig.preset("tiny")).save_pretrained(tmp_path / "tok")
    model = tiny()
    model.save_pretrained(tmp_path / "s2a", tokenizer=tmp_path / "tok")
    record = json.loads((tmp_path / "s2a/config.json").read_text())
    assert record["family"] == "s2a" and record["model"]["mel"]["name"] == "vocos24k"
    assert (tmp_path / "s2a/tokenizer/model.safetensors").is_file()
    loaded = load_s2a(tmp_path / "s2a")
    assert loaded.config == model.config
    job = S2AJob([3, 4, 5], torch.zeros(0, 100), [], 0)
    assert torch.equal(loaded.sample([job], nfe=2)[0], model.sample([job], nfe=2)[0])
    T2SFlow(T2SFlowConfig.preset("tiny")).save_pretrained(tmp_path / "t2s")
    with pytest.raises(FlowvoxError, match="family 't2s_fm' is not a semantic-to-acoustic"):
        load_s2a(tmp_path / "t2s")
