"""Text to IPA phonemes through the espeak-ng program (Debian package ``espeak-ng``).

``phonemize(texts, language)`` runs ONE ``espeak-ng -q --ipa`` process per call, however
many texts: each stretch of words between punctuation goes on its own stdin line(s),
followed by a marker line; espeak-ng reads stdin line by line and prints the marker's
phonemes alone on a line, so the output splits back into the inputs. espeak-ng drops punctuation,
so punctuation that touches a space or an end of the text (``,`` in "Hello, world", a
final ``!``) is cut out before and put back after (``keep_punctuation``); punctuation
inside a word ("3.5", "U.S.A") goes to espeak-ng. Whitespace runs become one space.
espeak-ng synthesises the audio internally even with ``-q``, so it costs a few
milliseconds per short sentence on one CPU core.

Languages: ``"en-us"`` (also ``"en"``), ``"en-gb"``, ``"es"``. espeak-ng reads digits and
some abbreviations itself, but run :func:`flowvox.text.normalize.normalize_text` first so
numbers match what the model was trained on.

Vocab over phonemes: phoneme strings are plain text, so the character tokenizer serves:
``CharTokenizer(build_vocab(phonemize(corpus, "en-us")))`` gives one id per IPA symbol
(stress marks and length marks are symbols of their own).

Letters of another script ("你好" or runes for an English voice) are not read but spelled
out by espeak-ng ("Chinese letter", "letter 16a0"): :func:`foreign_letters` names them, so
a caller can warn of them, or refuse a text that has nothing else (:func:`readable`).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import unicodedata
from collections.abc import Sequence

from flowvox.errors import FlowvoxError
from flowvox.text.tokenizers import UnknownCharacterWarning

LANGUAGES = {"en": "en-us", "en-us": "en-us", "en-gb": "en-gb", "es": "es"}  # name: voice
SCRIPTS = {"en-us": "LATIN", "en-gb": "LATIN", "es": "LATIN"}  # voice: the script it reads
PUNCTUATION = ';:,.!?¡¿—–…"«»“”()[]{}'  # marks kept around the phonemes
STRESS_MARKS = "ˈˌ"
_DROP_STRESS = str.maketrans("", "", STRESS_MARKS)
# Letter pairs that espeak-ng spells out (short, so cheap to speak); the first one whose
# letters appear in no text is the marker.
_MARKERS = ("xq", "qx", "zq", "qz", "jx", "xj")
_MAX_LINE = 300  # characters per stdin line; longer stretches are cut at spaces
_P = re.escape(PUNCTUATION)
# Punctuation runs that touch whitespace or an end of the text: these are cut out.
_EDGE_PUNCTUATION = re.compile(rf"((?:(?<=\s)|^)[{_P}]+|[{_P}]+(?=\s|$))")
_LANGUAGE_FLAG = re.compile(r"\([a-z]{2,3}(?:-[a-z0-9]+)?\)")  # "(en)" language switches


def phonemize(
    texts: Sequence[str],
    language: str = "en-us",
    *,
    keep_punctuation: bool = True,
    keep_stress: bool = True,
) -> list[str]:
    """IPA for each of ``texts``, in order, through one espeak-ng process.

    "Hello, world!" -> "həlˈoʊ, wˈɜːld!" (en-us). An empty text gives "". Raises
    FlowvoxError when espeak-ng is not installed or ``language`` is not supported.
    """
    if isinstance(texts, str):
        raise FlowvoxError("phonemize takes a list of texts: pass [text] for one text")
    voice = _voice(language)
    binary = shutil.which("espeak-ng")
    if binary is None:
        raise FlowvoxError(
            "espeak-ng not found: install the Debian package espeak-ng (apt-get install espeak-ng)"
        )
    parts = [_EDGE_PUNCTUATION.split(" ".join(text.split())) for text in texts]
    stretches = [p.strip() for text_parts in parts for p in text_parts[0::2] if p.strip()]
    phonemes = _run_espeak(binary, voice, stretches)
    out, k = [], 0
    for text_parts in parts:
        pieces = []
        for j, part in enumerate(text_parts):
            if j % 2 == 1:  # a punctuation run
                pieces.append(part if keep_punctuation else "")
            elif part.strip():
                ipa = phonemes[k]
                k += 1
                pieces.append(f"{' ' * part.startswith(' ')}{ipa}{' ' * part.endswith(' ')}")
            else:
                pieces.append(part)
        ipa_text = " ".join("".join(pieces).split())
        if not keep_stress:
            ipa_text = ipa_text.translate(_DROP_STRESS)
        out.append(ipa_text)
    # invariant: _run_espeak returned exactly one output per stretch (it raises otherwise)
    assert k == len(phonemes), "every espeak-ng output was used once"
    return out


class ForeignScriptWarning(UnknownCharacterWarning):
    """Text for a phoneme model held letters of another script (espeak-ng spells them out)."""


def language_script(language: str) -> str:
    """The script espeak-ng reads ``language`` in: "Latin" for every supported language."""
    return SCRIPTS[_voice(language)].title()


def foreign_letters(text: str, language: str = "en-us") -> list[str]:
    """The distinct letters of ``text`` outside ``language``'s script, sorted: what espeak-ng
    spells out instead of reading. Digits, punctuation and symbols are never foreign."""
    script = language_script(language).upper() + " "
    letters = {c for c in text if unicodedata.category(c).startswith("L")}
    return sorted(c for c in letters if script not in unicodedata.name(c, ""))


def readable(text: str, language: str = "en-us") -> bool:
    """True when ``text`` holds a letter of ``language``'s script or an ASCII digit."""
    foreign = set(foreign_letters(text, language))
    return any((c.isascii() and c.isdigit()) or (c.isalpha() and c not in foreign) for c in text)


def _voice(language: str) -> str:
    voice = LANGUAGES.get(language.lower().replace("_", "-"))
    if voice is None:
        raise FlowvoxError(
            f"language {language!r} is not supported for phonemes; use one of "
            f"{', '.join(LANGUAGES)}"
        )
    return voice


def _lines(stretch: str) -> list[str]:
    """Cut a stretch into stdin lines of at most about _MAX_LINE characters, at spaces
    (espeak-ng cuts over-long lines mid-word)."""
    lines, current = [], ""
    for word in stretch.split(" "):
        if current and len(current) + 1 + len(word) > _MAX_LINE:
            lines.append(current)
            current = word
        else:
            current = f"{current} {word}" if current else word
    return [*lines, current]


def _marker(stretches: list[str]) -> str:
    """A marker word that no stretch contains (letters only, any case)."""
    letters = {"".join(c for c in s.lower() if c.isalpha()) for s in stretches}
    for marker in _MARKERS:
        if not any(marker in word for word in letters):
            return marker
    raise RuntimeError(f"every marker {_MARKERS} occurs in the texts; phonemize them in parts")


def _run_espeak(binary: str, voice: str, stretches: list[str]) -> list[str]:
    """Phonemes of each stretch (one espeak-ng process); stress marks included."""
    if not stretches:
        return []
    marker = _marker(stretches)
    lines = [marker]
    for stretch in stretches:
        lines += [*_lines(stretch), marker]
    result = subprocess.run(
        [binary, "-q", "--ipa", "-b", "1", "-v", voice],
        input=("\n".join(lines) + "\n").encode("utf-8"),
        capture_output=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"espeak-ng exited with status {result.returncode}: "
            f"{result.stderr.decode('utf-8', 'replace').strip()}"
        )
    output = [_LANGUAGE_FLAG.sub("", line).strip() for line in result.stdout.decode().split("\n")]
    output = [line for line in output if line]
    if not output:
        raise RuntimeError(f"espeak-ng printed nothing: {result.stderr.decode('utf-8', 'replace')}")
    marker_ipa, groups, current = output[0], [], []
    for line in output[1:]:
        if line == marker_ipa:
            groups.append(" ".join(current))
            current = []
        else:
            current.append(line)
    if len(groups) != len(stretches) or current:
        raise RuntimeError(
            f"espeak-ng returned {len(groups)} outputs for {len(stretches)} inputs "
            f"(does a text read exactly like the marker {marker!r}?)"
        )
    return groups
