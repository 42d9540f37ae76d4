"""Mixed Chinese/English text to F5-TTS pinyin tokens (the tokenizer of the official models).

``pinyin_tokens(text)`` reproduces, for one text, the token list of
``convert_char_to_pinyin([text])`` in ``f5_tts/model/utils.py`` of the f5-tts package, version
1.1.22, with its default ``polyphone=True``. Its rules:

- ``;`` becomes ``,`` and curly quotes become straight ones;
- the text is segmented into words with ``rjieba.cut`` (jieba in Rust, as f5-tts uses);
- a word of ASCII characters only stays characters; before such a word of two or more
  characters a space is inserted unless the previous token is a space, ``:``, ``'`` or ``"``;
- a word made only of 3-byte UTF-8 characters (CJK) becomes pypinyin TONE3 syllables with
  tone sandhi, read over the whole word; each Chinese character (U+3100..U+9FFF) gets a space
  before its syllable, other 3-byte characters (e.g. "，") stand for themselves;
- any other word is read character by character: characters below U+0100 stay, a Chinese
  character becomes " " + its syllable (read alone), anything else stays.

Tested: tests/text/test_pinyin.py checks the rules on small cases (sandhi in "你好", a space
before an ASCII word, ``;`` and curly quotes normalised) and, through ``PinyinTokenizer``,
syllables as single vocab ids and unknown syllables reported;
tests/models/test_f5_release_equivalence.py (``make test-f5``, in the peers venv with f5-tts
1.1.22) checks that the token lists equal ``convert_char_to_pinyin``'s on mixed
Chinese/English sentences with digits, punctuation and tone-sandhi words. Syllables come from
the installed pypinyin's dictionary, so another pypinyin release may read a rare word
differently than the one f5-tts's models were trained with.

Needs ``pip install flowvox[zh]`` (pypinyin, rjieba).
"""

from __future__ import annotations

from collections.abc import Iterable

from flowvox.errors import FlowvoxError
from flowvox.text.tokenizers import CharTokenizer

NORMALIZE = str.maketrans({";": ",", "“": '"', "”": '"', "‘": "'", "’": "'"})
NO_SPACE_AFTER = {" ", ":", "'", '"'}


def _libraries():
    try:
        import rjieba
        from pypinyin import Style, lazy_pinyin
    except ImportError as err:
        raise FlowvoxError(
            f"the pinyin tokenizer needs {err.name}: pip install 'flowvox[zh]' (pypinyin, rjieba)"
        ) from None
    return rjieba.cut, lambda text: lazy_pinyin(text, style=Style.TONE3, tone_sandhi=True)


def is_chinese(char: str) -> bool:
    return "\u3100" <= char <= "\u9fff"


def pinyin_tokens(text: str) -> list[str]:
    """The F5 token list of ``text`` (see the module docstring)."""
    cut, syllables = _libraries()
    tokens: list[str] = []
    for word in cut(text.translate(NORMALIZE)):
        width = len(word.encode("utf-8"))
        if width == len(word):  # ASCII only
            if len(word) > 1 and tokens and tokens[-1] not in NO_SPACE_AFTER:
                tokens.append(" ")
            tokens.extend(word)
        elif width == 3 * len(word):  # 3-byte characters only: read as one word
            for char, syllable in zip(word, syllables(word), strict=True):
                if is_chinese(char):
                    tokens.append(" ")
                tokens.append(syllable)
        else:
            for char in word:
                if ord(char) < 256:
                    tokens.append(char)
                elif is_chinese(char):
                    tokens.append(" ")
                    tokens.extend(syllables(char))
                else:
                    tokens.append(char)
    return tokens


class PinyinTokenizer(CharTokenizer):
    """``CharTokenizer`` over an F5 vocab whose ``encode`` reads text through
    :func:`pinyin_tokens` (ids of whole syllables such as "zhong1")."""

    def __init__(self, tokens, unknown="space", name: str = "pinyin") -> None:
        super().__init__(tokens, unknown=unknown, name=name)

    def encode(self, text: str) -> list[int]:
        return self.encode_tokens(pinyin_tokens(text))

    def _known(self, tokens: Iterable[str]) -> list[bool]:
        return [t in self._ids for t in tokens]

    def unknown_chars(self, text: str) -> list[str]:
        return sorted({t for t in pinyin_tokens(text) if t not in self._ids})

    def all_unknown(self, text: str) -> bool:
        content = [t for t in pinyin_tokens(text) if not t.isspace()]
        return bool(content) and not any(self._known(content))
