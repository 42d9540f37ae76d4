"""Run the speech engines: text in, the engine's own wav files out (native rate, unprocessed).

Measured on a 2-core machine: a flite or espeak-ng process costs 10-25 ms to start, small
beside the synthesis itself, so they run once per sentence. festival takes ~0.3 s to start
and load a voice, so one festival process synthesises a whole batch of sentences from a
generated Scheme script fed on stdin (``festival --pipe``).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from flowvox.data.corpus.voices import VoiceInfo

PROCESS_TIMEOUT_S = 120.0  # per flite/espeak-ng sentence
FESTIVAL_TIMEOUT_PER_SENTENCE_S = 30.0


def synthesize_raw(voice: VoiceInfo, texts: list[str], folder: Path) -> list[Path | None]:
    """Synthesise ``texts`` with ``voice`` into ``folder/0000.wav``, ``folder/0001.wav``, ...

    Returns one path per text, ``None`` where the engine failed or wrote nothing.
    """
    paths = [Path(folder) / f"{i:04d}.wav" for i in range(len(texts))]
    if voice.engine == "festival":
        run_festival(voice.voice, texts, paths)
    else:
        for text, path in zip(texts, paths, strict=True):
            _run_quietly(_command(voice, text, path), stdin=text, timeout=PROCESS_TIMEOUT_S)
    return [p if p.is_file() and p.stat().st_size > 44 else None for p in paths]


def _command(voice: VoiceInfo, text: str, path: Path) -> list[str]:
    if voice.engine == "flite":
        return ["flite", "-voice", voice.voice, "-t", text, "-o", str(path)]
    if voice.engine == "espeak":
        return ["espeak-ng", "-v", voice.voice, "-w", str(path), "--stdin"]
    raise AssertionError(f"no per-sentence command for engine {voice.engine}")


def scheme_string(text: str) -> str:
    """A Scheme string literal for ``text``: backslashes and double quotes escaped."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def festival_script(voice: str, texts: list[str], paths: list[Path]) -> str:
    """The Scheme program that selects ``voice`` once, then saves one RIFF wav per text.

    Each sentence is wrapped in ``unwind-protect`` so an error in one does not stop the rest.
    """
    lines = [f"(voice_{voice})"]
    for text, path in zip(texts, paths, strict=True):
        synth = f"(utt.synth (Utterance Text {scheme_string(text)}))"
        save = f"(utt.save.wave {synth} {scheme_string(str(path))} 'riff)"
        lines.append(f"(unwind-protect {save} nil)")
    return "\n".join(lines) + "\n"


def run_festival(voice: str, texts: list[str], paths: list[Path]) -> None:
    """One ``festival --pipe`` process for all of ``texts``."""
    script = festival_script(voice, texts, paths)
    timeout = 30.0 + FESTIVAL_TIMEOUT_PER_SENTENCE_S * len(texts)
    _run_quietly(["festival", "--pipe"], stdin=script, timeout=timeout)


def _run_quietly(args: list[str], stdin: str, timeout: float) -> None:
    """Run a command; failures show up as missing output files, not exceptions."""
    try:
        subprocess.run(
            args, input=stdin, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        pass
