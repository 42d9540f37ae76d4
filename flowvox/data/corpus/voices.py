"""The voices a synthetic corpus can use: which engine, language and recorded person each is.

A voice name is ``ENGINE:VOICE``: ``flite:kal16``, ``festival:kal_diphone``,
``espeak:en-us+m3``. The registry below lists the voices known to work with the Debian
packages; any other espeak-ng ``LANGUAGE+VARIANT`` combination is accepted by name too.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from flowvox.errors import FlowvoxError

ENGINE_PACKAGES = {"flite": "flite", "festival": "festival", "espeak": "espeak-ng"}
ENGINE_BINARIES = {"flite": "flite", "festival": "festival", "espeak": "espeak-ng"}

FLITE_LICENCE = "CMU Flite licence (BSD-style; keep the copyright notice)"
EDINBURGH_LICENCE = "Edinburgh/CMU festvox licence (BSD-style; keep the copyright notice)"
HTS_LICENCE = "EST-2003 (CMU ARCTIC, BSD-style; keep the copyright notice)"
ESPEAK_LICENCE = "GPL-3.0-or-later (espeak-ng)"


@dataclass(frozen=True)
class VoiceInfo:
    """One synthetic speaker.

    ``person`` is the recorded human behind a voice built from recordings (kal, ked, awb,
    rms, slt; ``None`` for espeak-ng's formant voices): flite ``kal16`` and festival
    ``kal_diphone`` are two voices of one person. ``words_per_second``, used to plan a corpus
    of a given length, was measured as words / (seconds - 0.25) over 30 trimmed utterances
    of WordNet (or, for Spanish, fortunes-es) sentences per voice.
    """

    name: str  # "flite:kal16"
    engine: str  # "flite" | "festival" | "espeak"
    voice: str  # the engine's own voice id: "kal16", "kal_diphone", "en-us+m3"
    language: str  # "en" | "es"
    person: str | None
    licence: str
    package: str  # Debian package that provides the voice
    words_per_second: float
    default: bool = False

    @property
    def slug(self) -> str:
        """File- and speaker-id-safe name: ``espeak:en-us+m3`` -> ``espeak-en-us-m3``."""
        return slugify(self.name)


def slugify(name: str) -> str:
    """A speaker or voice name made file-safe: runs of other characters become one ``-``."""
    return re.sub(r"[^A-Za-z0-9_-]+", "-", name)


def _flite(voice: str, person: str, wps: float, default: bool = True) -> VoiceInfo:
    licence = FLITE_LICENCE
    return VoiceInfo(f"flite:{voice}", "flite", voice, "en", person, licence, "flite", wps, default)


def _festival(voice: str, person: str, licence: str, package: str, wps: float) -> VoiceInfo:
    name = f"festival:{voice}"
    return VoiceInfo(name, "festival", voice, "en", person, licence, package, wps, True)


def _espeak(voice: str, wps: float = 3.6, default: bool = True) -> VoiceInfo:
    language = voice.split("+")[0].split("-")[0]
    licence, package = ESPEAK_LICENCE, "espeak-ng"
    name = f"espeak:{voice}"
    return VoiceInfo(name, "espeak", voice, language, None, licence, package, wps, default)


def list_voices() -> list[VoiceInfo]:
    """The registry, in the fixed order used for the default voice set.

    Default voices (``default=True``): flite kal16/awb/rms/slt, festival kal_diphone,
    ked_diphone, cmu_us_slt_arctic_hts, 8 English espeak-ng combinations and 4 Spanish ones.
    flite ``kal`` (8 kHz, hardest to understand) is registered but not in the default set.
    """
    return [
        _flite("kal16", "kal", 3.3),
        _flite("awb", "awb", 3.35),
        _flite("rms", "rms", 2.8),
        _flite("slt", "slt", 3.35),
        _flite("kal", "kal", 3.2, default=False),
        _festival("kal_diphone", "kal", EDINBURGH_LICENCE, "festvox-kallpc16k", 2.9),
        _festival("ked_diphone", "ked", EDINBURGH_LICENCE, "festvox-kdlpc16k", 3.2),
        _festival("cmu_us_slt_arctic_hts", "slt", HTS_LICENCE, "festvox-us-slt-hts", 3.25),
        _espeak("en-us+m3", 3.85),
        _espeak("en-us+f2", 3.75),
        _espeak("en-gb-x-gbclan+m1", 3.55),
        _espeak("en-us+f3", 3.75),
        _espeak("en-gb-scotland+m2", 3.85),
        _espeak("en-gb-x-rp+f4", 3.55),
        _espeak("en-029+m4", 3.7),
        _espeak("en-gb-x-gbcwmd+klatt", 3.65),
        _espeak("es+m1", 3.65),
        _espeak("es+f2", 3.45),
        _espeak("es-419+m3", 3.3),
        _espeak("es-419+f4", 3.15),
    ]


def default_voices(languages: list[str] | None = None) -> list[VoiceInfo]:
    """The default voices of ``languages`` (``None``: English only)."""
    wanted = set(languages or ["en"])
    return [v for v in list_voices() if v.default and v.language in wanted]


def resolve_voice(name: str) -> VoiceInfo:
    """Look a voice name up; ``espeak:LANG+VARIANT`` names outside the registry are built.

    Raises ``FlowvoxError`` listing the registered voices for an unknown name.
    """
    for info in list_voices():
        if info.name == name:
            return info
    engine, _, voice = name.partition(":")
    if engine == "espeak" and re.fullmatch(r"[a-z]{2,3}(-[A-Za-z0-9]+)*(\+[A-Za-z0-9_ ]+)?", voice):
        return _espeak(voice, default=False)
    known = ", ".join(v.name for v in list_voices())
    raise FlowvoxError(
        f"unknown voice {name!r}; known voices: {known} (or espeak:LANGUAGE+VARIANT)"
    )


def check_available(voices: list[VoiceInfo]) -> None:
    """Raise ``FlowvoxError`` naming the Debian package to install for the first missing voice."""
    for engine in sorted({v.engine for v in voices}):
        if shutil.which(ENGINE_BINARIES[engine]) is None:
            raise FlowvoxError(
                f"{ENGINE_BINARIES[engine]} not found on PATH: "
                f"apt-get install {ENGINE_PACKAGES[engine]}"
            )
    engines = {v.engine for v in voices}
    flite = _flite_voices() if "flite" in engines else set()
    festival = _festival_voices() if "festival" in engines else set()
    espeak = _espeak_languages() if "espeak" in engines else set()
    variants = _espeak_variants() if "espeak" in engines else set()
    for v in voices:
        if v.engine == "flite" and v.voice not in flite:
            raise FlowvoxError(f"flite voice {v.voice} not found: apt-get install {v.package}")
        if v.engine == "festival" and v.voice not in festival:
            raise FlowvoxError(f"festival voice {v.voice} not found: apt-get install {v.package}")
        if v.engine == "espeak":
            language, _, variant = v.voice.partition("+")
            if language not in espeak:
                raise FlowvoxError(
                    f"espeak-ng voice {language} not found; see `espeak-ng --voices` "
                    f"(apt-get install espeak-ng-data)"
                )
            if variant and variant not in variants:
                raise FlowvoxError(
                    f"espeak-ng variant {variant} not found; "
                    f"variants: {', '.join(sorted(variants))}"
                )


def _run(args: list[str], stdin: str | None = None) -> str:
    done = subprocess.run(args, input=stdin, capture_output=True, text=True, timeout=60)
    return done.stdout


def _flite_voices() -> set[str]:
    # "Voices available: kal awb_time kal16 awb rms slt"
    return set(_run(["flite", "-lv"]).split(":", 1)[-1].split())


def _festival_voices() -> set[str]:
    # "(cmu_us_slt_arctic_hts ked_diphone kal_diphone)"
    return set(re.findall(r"[A-Za-z0-9_]+", _run(["festival", "--pipe"], "(print (voice.list))\n")))


def _espeak_languages() -> set[str]:
    """Language codes of installed espeak-ng voices (mbrola ones, which need mbrola, left out)."""
    rows = [line.split() for line in _run(["espeak-ng", "--voices"]).splitlines()[1:]]
    return {r[1] for r in rows if len(r) >= 5 and not r[4].startswith("mb/") and r[1] != "variant"}


def _espeak_variants() -> set[str]:
    match = re.search(r"Data at:\s*(\S+)", _run(["espeak-ng", "--version"]))
    folder = Path(match.group(1)) / "voices" / "!v" if match else None
    return {p.name for p in folder.iterdir()} if folder and folder.is_dir() else set()
