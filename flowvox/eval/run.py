"""``flowvox eval``: judge a model (synthesising the test manifest at each NFE) or a folder
of generated audio, beside the ground truth, and write the results.

Synthesis goes through ``flowvox generate``'s batched, resumable writer
(:func:`flowvox.infer.bulk.generate_bulk`, ``Synthesizer.speak_batch`` underneath) into
``OUT/audio/nfe-<N>/``, so a stopped run continues where it stopped; RTF = its wall seconds /
seconds of audio made (not measured for audio an earlier run made). Everything the run needs
(manifest, audio files, model, recogniser) is checked before the first file is written.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from flowvox.errors import FlowvoxError
from flowvox.eval.items import EvalItem, find_generated, read_eval_items
from flowvox.eval.judges import GROUND_TRUTH, JudgeConfig, Judges, UtteranceScore
from flowvox.eval.report import SystemSummary, summarize, write_results
from flowvox.infer.bulk import generate_bulk
from flowvox.infer.model_dir import sampling_defaults
from flowvox.infer.options import SynthesisOptions
from flowvox.infer.synthesizer import Synthesizer
from flowvox.utils.atomic import atomic_write_text


@dataclass
class EvalConfig:
    """One eval run: the test manifest, the output folder, and either a model (with the NFE
    settings to synthesise at) or a folder of already generated audio."""

    manifest: str
    out_dir: str
    model: str | None = None
    vocoder: str | None = None
    nfe: list[int] | None = None  # None: the model's sampling.json, else 32 (SynthesisOptions)
    audio_dir: str | None = None
    name: str | None = None  # system name for --audio-dir (default: the folder's name)
    cfg: float | None = None  # None: the model's sampling.json, else 2.0 (SynthesisOptions)
    seed: int = 0
    batch_frames: int | None = None
    judges: JudgeConfig = field(default_factory=JudgeConfig)
    ground_truth: bool = True  # judge the ground truth too
    progress: bool = True


@dataclass
class EvalReport:
    """What a run measured and where it wrote it."""

    summaries: list[SystemSummary]
    scores: list[UtteranceScore]
    files: list[Path]
    judge_seconds: float  # wall time of the judges (all systems and the ground truth)
    synthesis_seconds: float

    def summary(self) -> str:
        lines = [
            f"{s.system:>14}: WER {_pct(s.wer)}  SIM-ref {_num(s.sim_to_ref, 3)}  "
            f"SIM-GT {_num(s.sim_to_gt, 3)}  MCD {_num(s.mcd_db, 2)} dB  "
            f"F0 {_num(s.f0_rmse_hz, 1)} Hz  dur {_num(s.duration_ratio, 2)}"
            + (f"  RTF {s.rtf:.3f}" if s.rtf is not None else "")
            for s in self.summaries
            if s.group == "all"
        ]
        utts = len({s.id for s in self.scores})
        lines.append(
            f"judged {len(self.scores)} files ({utts} utterances) in {self.judge_seconds:.0f} s"
            + (f", synthesis {self.synthesis_seconds:.0f} s" if self.synthesis_seconds else "")
        )
        lines += [f"wrote {path}" for path in self.files[:2]]
        return "\n".join(lines)


def run_eval(config: EvalConfig) -> EvalReport:
    """Check the inputs, synthesise if a model is given, judge, write the result files."""
    items = read_eval_items(config.manifest)
    if (config.model is None) == (config.audio_dir is None):
        raise FlowvoxError("flowvox eval: give exactly one of --model DIR or --audio-dir DIR")
    out = Path(config.out_dir)
    if out.exists() and not out.is_dir():
        raise FlowvoxError(f"OUT_DIR {out}: exists and is not a folder; give a folder path")
    if config.audio_dir is not None:
        folder = Path(config.audio_dir)
        named = folder.resolve()
        named = named.parent if named.name == "wavs" else named  # flowvox generate's layout
        systems = {config.name or named.name: find_generated(items, folder)}
        if GROUND_TRUTH in systems:
            raise FlowvoxError(f"--name {GROUND_TRUTH!r} is reserved; choose another name")
    else:
        config = with_model_sampling(config)
        if not config.nfe or min(config.nfe) < 1:
            raise FlowvoxError(f"--nfe {config.nfe}: give one or more positive step counts")
    judges = Judges(config.judges)  # loads the recogniser: a bad --asr fails here
    nfe_of: dict[str, int] = {}
    rtf: dict[str, float | None] = {}
    synthesis_seconds = 0.0
    if config.model is not None:
        for nfe in config.nfe:  # option errors before the model loads
            SynthesisOptions(nfe=nfe, cfg=config.cfg, seed=config.seed)
        _check_audio_settings(out / "audio", config)
        synth = Synthesizer.from_pretrained(config.model, config.vocoder, config.judges.device)
        _check_audio_settings(out / "audio", config, write=True)
        systems = {}
        for nfe in dict.fromkeys(config.nfe):
            name = f"nfe-{nfe}"
            folder = out / "audio" / name
            files, seconds, rtf[name] = _synthesize(synth, config, items, nfe, folder)
            systems[name], nfe_of[name] = files, nfe
            synthesis_seconds += seconds
    start = time.perf_counter()
    scores = _judge(judges, items, systems, config)
    judge_seconds = time.perf_counter() - start
    summaries = summarize(scores, nfe_of, rtf)
    notes = [
        f"Manifest `{config.manifest}` ({len(items)} utterances); "
        + (f"model `{config.model}`" if config.model else f"audio `{config.audio_dir}`")
        + f"; ASR {config.judges.asr}; judges {judge_seconds:.0f} s wall on "
        f"{os.cpu_count()} cores ({config.judges.workers} ASR worker processes)."
    ]
    record = {**asdict(config), "judge_seconds": judge_seconds}
    files = write_results(out, scores, summaries, record, "flowvox eval", notes)
    return EvalReport(summaries, scores, files, judge_seconds, synthesis_seconds)


def with_model_sampling(config: EvalConfig) -> EvalConfig:
    """``config`` with the NFE and CFG not given taken from the model folder's sampling.json
    (``flowvox pack --nfe/--cfg``), else ``SynthesisOptions``' defaults: a model is judged
    as it speaks. Its sway and solver reach the synthesis through ``default_options``."""

    defaults = {"nfe": SynthesisOptions().nfe, "cfg": SynthesisOptions().cfg}
    defaults.update(
        (k, v) for k, v in sampling_defaults(Path(config.model)).items() if k in defaults
    )
    return replace(
        config,
        nfe=config.nfe if config.nfe is not None else [defaults["nfe"]],
        cfg=config.cfg if config.cfg is not None else defaults["cfg"],
    )


def _check_audio_settings(folder: Path, config: EvalConfig, write: bool = False) -> None:
    """``OUT/audio/settings.json`` names the model and options its audio was made with; a
    rerun (which reuses finished audio) with other settings is refused."""
    import json

    settings = {
        "model": str(Path(config.model).resolve()),
        "vocoder": str(Path(config.vocoder).resolve()) if config.vocoder else None,
        "cfg": config.cfg,
        "seed": config.seed,
        "manifest": str(Path(config.manifest).resolve()),
    }
    path = folder / "settings.json"
    if path.is_file():
        before = json.loads(path.read_text(encoding="utf-8"))
        changed = sorted(k for k in settings if before.get(k) != settings[k])
        if changed:
            raise FlowvoxError(
                f"{folder} holds audio made with other {', '.join(changed)} "
                f"({', '.join(f'{k}={before.get(k)}' for k in changed)}); give a new OUT_DIR "
                "or delete that folder"
            )
    elif write:
        atomic_write_text(path, json.dumps(settings, indent=1) + "\n")


def _synthesize(
    synth, config: EvalConfig, items: list[EvalItem], nfe: int, folder: Path
) -> tuple[dict[str, Path], float, float | None]:
    """Speak the manifest at ``nfe`` into ``folder``: (id -> wav, wall seconds, RTF)."""

    options = synth.default_options(nfe=nfe, cfg=config.cfg, seed=config.seed)
    folder.parent.mkdir(parents=True, exist_ok=True)
    report = generate_bulk(
        synth, config.manifest, folder, options, config.batch_frames, config.progress
    )
    if report.failed:
        print(
            f"flowvox: warning: nfe {nfe}: {len(report.failed)} utterances failed "
            f"({report.failed[0]}); they are left out of the scores",
            file=sys.stderr,
        )
    made = {p.stem: p for p in (folder / "wavs").glob("*.wav")}
    files = {item.id: made[item.id] for item in items if item.id in made}
    rtf = report.real_time_factor if report.audio_seconds else None
    return files, report.compute_seconds, rtf


def _judge(judges: Judges, items, systems, config: EvalConfig) -> list[UtteranceScore]:
    from tqdm import tqdm

    total = sum(len(files) for files in systems.values())
    total += sum(1 for item in items if item.audio) if config.ground_truth else 0
    with tqdm(
        total=2 * total, desc="judging", unit="job", disable=not config.progress, file=sys.stderr
    ) as bar:
        return judges.score(items, systems, bar.update, config.ground_truth)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f} %"


def _num(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"
