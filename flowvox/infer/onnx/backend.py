"""`--backend onnx`: the aligned family's ODE and the vocoder through onnxruntime.

# b: batch (chunks), n: frames, p: prompt frames, f: mel bins, s: samples
``OnnxAlignedBackend`` is the aligned backend with one change: the ODE. Text encoding,
durations (the prompt's by MAS), per-row seeded noise and the padded prompt come from the
same ``plan_aligned`` as the torch backend, so a seed gives both backends the same x_0 and
the same frames. The solver loop stays in Python (``flowvox.flow.solve``, any solver, any
NFE); each velocity evaluation is one onnxruntime call of ``velocity.onnx``, with the
conditional and unconditional halves inside it (a guidance-distilled model: one pass, w in).
``OnnxVocoder`` runs ``vocoder.onnx``. Both run on the CPU provider in float32.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from flowvox.audio.mel import MelConfig
from flowvox.errors import FlowvoxError
from flowvox.flow import solve, time_grid
from flowvox.infer.backends.aligned import AlignedBackend, plan_aligned
from flowvox.infer.onnx.layout import VOCODER, VOCODER_FILE, read_manifest
from flowvox.infer.onnx.runtime import open_session, run
from flowvox.infer.options import SynthesisOptions
from flowvox.infer.reference import Reference
from flowvox.infer.sampling import ChunkJob, SampleResult
from flowvox.infer.text import token_ids
from flowvox.models.aligned.model import AlignedTTS
from flowvox.models.loading import load_model_dir
from flowvox.nn.duration import expand_by_durations
from flowvox.nn.masks import lengths_to_mask
from flowvox.vocoders.io import load_vocoder_config
from flowvox.vocoders.pairing import check_vocoder_pairing


class OnnxAlignedBackend(AlignedBackend):
    """The aligned family with each guided velocity evaluation through onnxruntime."""

    label = "the aligned TTS model (onnx backend)"

    def __init__(self, model: AlignedTTS, tokenizer: Any, velocity: Any) -> None:
        super().__init__(model, tokenizer)
        self.velocity = velocity  # onnxruntime.InferenceSession of velocity.onnx

    @classmethod
    def load(
        cls,
        folder: str | os.PathLike,
        device: str | torch.device = "cpu",
        threads: int | None = None,
    ) -> OnnxAlignedBackend:
        """The backend of an export folder (``flowvox export-onnx``); CPU only."""
        check_cpu(device)
        manifest = read_manifest(folder)
        loaded = load_model_dir(folder, AlignedTTS, "cpu")
        session = open_session(Path(folder) / manifest["velocity"], threads)
        return cls(loaded.model, loaded.tokenizer, session)

    def check_options(self, opts: SynthesisOptions) -> None:
        super().check_options(opts)
        if opts.precision != "fp32":
            raise FlowvoxError(
                f"precision={opts.precision}: the onnx backend runs float32; drop --precision "
                "or use --backend torch"
            )

    def sample(self, jobs: list[ChunkJob], ref: Reference, opts: SynthesisOptions) -> SampleResult:
        prompt_tokens = len(token_ids(ref.text, "", self.tokenizer))
        return sample_aligned_onnx(self.model, self.velocity, jobs, prompt_tokens, opts)


@torch.inference_mode()
def sample_aligned_onnx(
    model: AlignedTTS,
    velocity: Any,
    jobs: Sequence[ChunkJob],
    prompt_tokens: int,
    opts: SynthesisOptions,
) -> SampleResult:
    """Generated log-mel (g_i, f) per job: ``AlignedTTS.synthesize``'s ODE with the guided
    velocity from the onnxruntime session ``velocity`` (inputs as ``layout.VELOCITY``)."""
    plan = plan_aligned(model, jobs, prompt_tokens, opts)
    mu = expand_by_durations(plan.enc.mu, plan.durations)  # x (b, n, f), mask (b, n)
    n = mu.x.shape[1]
    prompt = lengths_to_mask(plan.frames, n)[..., None]  # (b, n, 1) True on prompt frames
    p = min(n, plan.prompt_mel.shape[1])
    cond = F.pad(plan.prompt_mel[:, :p], (0, 0, 0, n - p)).masked_fill(~prompt, 0.0)  # (b, n, f)
    cfg = torch.tensor(opts.cfg, dtype=torch.float32)
    fixed = {"cond": cond, "mu": mu.x, "mask": mu.mask, "cfg": cfg}  # the VELOCITY inputs

    def guided(x: Tensor, t: Tensor) -> Tensor:  # x (b, n, f), t (b,)
        return run(velocity, {"x_t": x, "t": t, **fixed})

    kind = "uniform" if opts.sway is None else "sway"
    grid = time_grid(opts.nfe, kind, opts.sway or 0.0)
    result = solve(guided, plan.noise.float(), grid, opts.solver)
    mel = torch.where(prompt, cond, result.x).masked_fill(~mu.mask[..., None], 0.0)
    return SampleResult(mels=plan.generated(mel), nfe=result.nfe)


class OnnxVocoder(nn.Module):
    """Log-mel (b, n, f) -> waveform (b, s) float32 on the CPU, by ``vocoder.onnx``.

    ``config`` is the exported vocoder's own config (its ``mel`` is what the Synthesizer
    checks against the acoustic model's); the module has no parameters.
    """

    def __init__(self, session: Any, config: Any) -> None:
        super().__init__()
        self.session = session
        self.config = config

    def forward(self, mel: Tensor) -> Tensor:
        (name,) = VOCODER.inputs
        return run(self.session, {name: mel.float()})


def load_onnx_vocoder(
    source: object, mel: MelConfig, threads: int | None = None, acoustic_name: str = "the model"
) -> OnnxVocoder | None:
    """The ``OnnxVocoder`` of a vocoder folder that holds ``vocoder.onnx`` (checked against
    the acoustic model's ``mel``); None when ``source`` is not such a folder (Griffin-Lim, a
    module, a folder without a graph: those run in torch)."""
    if not isinstance(source, str | os.PathLike) or not (Path(source) / VOCODER_FILE).is_file():
        return None
    folder = Path(source)
    config = load_vocoder_config(folder)
    check_vocoder_pairing(mel, config.mel, acoustic_name, f"vocoder {folder}")
    return OnnxVocoder(open_session(folder / VOCODER_FILE, threads), config)


def check_cpu(device: str | torch.device) -> None:
    """The onnx backend runs on the CPU provider; another device is a one-line error."""
    if torch.device(device).type != "cpu":
        raise FlowvoxError(
            f"--device {device}: the onnx backend runs on the CPU (onnxruntime's CPU "
            "provider); drop --device or use --backend torch"
        )
