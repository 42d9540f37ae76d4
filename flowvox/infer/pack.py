"""Pack a model folder for shipping: half-precision weights, its vocoder and named voices.

OUT_DIR/model.safetensors    float tensors in float16 (``half``), loaded back into float32
OUT_DIR/config.json, vocab…  copied from the model folder
OUT_DIR/vocoder/             the vocoder folder, weights halved the same way; for
                             ``vocoder="griffin-lim"`` config.json names Griffin-Lim instead
OUT_DIR/voices/NAME.wav      one prompt per voice: mono, the model's sample rate, 16-bit
OUT_DIR/voices.json          {"default": NAME, "voices": {NAME: {"audio", "text", "source"}}}
OUT_DIR/sampling.json        the model's sampling defaults (the source's, updated by
                             ``sampling``), e.g. {"nfe": 8, "cfg": 0.7}

The folder is written under a temporary name and renamed when complete, and it is loaded
back through ``Synthesizer.from_pretrained`` before the rename, so a packed folder always
loads. This is how ``flowvox/default_voice/`` (the bundled model) is made.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from safetensors.torch import load_file, save_file

from flowvox.audio.io import load_audio, save_audio
from flowvox.data.manifest import read_manifest
from flowvox.errors import FlowvoxError
from flowvox.infer.model_dir import SAMPLING_FILE, VOICES_FILE, Prompt, sampling_defaults
from flowvox.infer.options import SynthesisOptions
from flowvox.infer.synthesizer import Synthesizer
from flowvox.models.loading import CONFIG_FILE, ModelFamily, read_config_json, upgrade_config
from flowvox.utils.atomic import atomic_folder, check_new_folder
from flowvox.vocoders.pairing import GRIFFIN_LIM_NAMES

WEIGHTS = "model.safetensors"
SKIPPED = {"vocoder", "voices", VOICES_FILE, "reference.wav", "reference.txt"}
PROMPT_SECONDS = (3.0, 8.0)  # a manifest voice's prompt: the utterance nearest 5 s in this range


@dataclass
class PackReport:
    out_dir: Path
    voices: list[str]
    default: str | None
    files: dict[str, int] = field(default_factory=dict)  # relative path -> bytes

    @property
    def total_bytes(self) -> int:
        return sum(self.files.values())

    def summary(self) -> str:
        voices = ", ".join(self.voices) or "none"
        return (
            f"packed {self.out_dir}: {self.total_bytes / 2**20:.1f} MiB in {len(self.files)} "
            f"files; voices: {voices} (default: {self.default or 'none'})"
        )


def halve_weights(src: Path, dst: Path, half: bool) -> None:
    """Copy a safetensors file, floating tensors cast to float16 when ``half``."""
    state = load_file(str(src))
    if half:
        state = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
    save_file({k: v.contiguous() for k, v in state.items()}, str(dst))


def _copy_model_folder(src: Path, dst: Path, half: bool) -> None:
    dst.mkdir(parents=True, exist_ok=True)
    for item in sorted(src.iterdir()):
        if item.name in SKIPPED or item.name.startswith("."):
            continue
        if item.name == WEIGHTS:
            halve_weights(item, dst / WEIGHTS, half)
        elif item.is_file():
            shutil.copy2(item, dst / item.name)


def _write_config(config_path: Path, family: ModelFamily, vocoder: str | None) -> None:
    """Rewrite config.json stamped with the model's family (a format-0 source folder is
    upgraded) and, when given, its top-level "vocoder" (read by ``model_dir.named_vocoder``)."""
    config = upgrade_config(read_config_json(config_path), family)
    if vocoder is not None:
        config["vocoder"] = vocoder
    config_path.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")


def voices_from_manifest(manifest: str | Path) -> dict[str, Prompt]:
    """One prompt per speaker of a JSONL manifest: its utterance nearest 5 s among those of
    3–8 s (ties: the first in file order); speakers with none in range are left out."""

    base = Path(manifest).parent
    best: dict[str, tuple[float, Prompt]] = {}
    for entry in read_manifest(manifest):
        if entry.duration is None or not PROMPT_SECONDS[0] <= entry.duration <= PROMPT_SECONDS[1]:
            continue
        distance = abs(entry.duration - 5.0)
        if entry.speaker not in best or distance < best[entry.speaker][0]:
            audio = Path(entry.audio)
            best[entry.speaker] = (
                distance,
                (audio if audio.is_absolute() else base / audio, entry.text),
            )
    if not best:
        raise FlowvoxError(f"{manifest}: no utterance of 3-8 s with a duration to use as a prompt")
    return {name: prompt for name, (_, prompt) in sorted(best.items())}


def _write_voices(dst: Path, voices: dict[str, Prompt], default: str | None, sample_rate: int):

    (dst / "voices").mkdir()
    entries = {}
    for name, (wav_path, text) in voices.items():
        if not name or "/" in name or name.startswith("."):
            raise FlowvoxError(f"voice name {name!r}: use letters, digits, '-' or '_'")
        clip = load_audio(wav_path, sample_rate)
        save_audio(dst / "voices" / f"{name}.wav", clip.wav, sample_rate)
        entries[name] = {"audio": f"voices/{name}.wav", "text": text, "source": str(wav_path)}
    data = {"default": default, "voices": entries}
    (dst / VOICES_FILE).write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n")


def pack_model(
    model_dir: str | Path,
    out_dir: str | Path,
    vocoder: str | Path | None = None,
    voices: dict[str, Prompt] | None = None,
    default: str | None = None,
    half: bool = True,
    sampling: dict | None = None,
) -> PackReport:
    """Write the packed folder (see the module docstring); ``default`` None takes the first
    voice; ``sampling`` sets sampling defaults (keys of ``SAMPLING_KEYS``). Refuses an
    existing non-empty ``out_dir``."""
    src, out = Path(model_dir), Path(out_dir)
    voices = dict(voices or {})
    if not (src / WEIGHTS).is_file():
        raise FlowvoxError(f"{src}: not a model folder (no {WEIGHTS})")
    check_new_folder(out)  # before the slow part
    if default is None and voices:
        default = next(iter(voices))
    if default is not None and default not in voices:
        raise FlowvoxError(f"--default {default!r} is not among the voices {sorted(voices)}")
    if sampling:
        SynthesisOptions(**sampling)  # a bad value fails now, not in the packed folder

    synth = Synthesizer.from_pretrained(src, vocoder or "griffin-lim")  # checks model + pairing
    with atomic_folder(out, "packing") as tmp:
        _copy_model_folder(src, tmp, half)
        griffin_lim = vocoder is not None and str(vocoder).lower() in GRIFFIN_LIM_NAMES
        # Griffin-Lim named when chosen: no warning on load
        _write_config(tmp / CONFIG_FILE, synth.model.family, "griffin-lim" if griffin_lim else None)
        if vocoder is not None and not griffin_lim:
            _copy_model_folder(Path(vocoder), tmp / "vocoder", half)
        if voices:
            _write_voices(tmp, voices, default, synth.sample_rate)
        if sampling:
            merged = {**sampling_defaults(src), **sampling}
            (tmp / SAMPLING_FILE).write_text(json.dumps(merged, indent=1) + "\n")
        for path in tmp.rglob("*"):  # readable by every user of an installed package
            path.chmod(0o755 if path.is_dir() else 0o644)
        Synthesizer.from_pretrained(tmp)  # the packed folder loads, vocoder and voices too
    files = {str(p.relative_to(out)): p.stat().st_size for p in out.rglob("*") if p.is_file()}
    return PackReport(out, list(voices), default, files)
