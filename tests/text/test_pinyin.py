"""The pinyin tokenizer of the official F5-TTS models (flowvox.text.pinyin). Equality with
f5-tts 1.1.22's own conversion is tested in tests/models/test_f5_release_equivalence.py."""

import warnings

from flowvox.models.loading import tokenizer_for
from flowvox.text.pinyin import PinyinTokenizer, pinyin_tokens
from tests.peers.require import import_peer

ZH_INSTALL = "pip install 'flowvox[zh]' (make test installs it)"
import_peer("rjieba", ZH_INSTALL)
import_peer("pypinyin", ZH_INSTALL)


def test_chinese_words_get_tone3_syllables_with_sandhi():
    # 你好: two third tones in one word -> the first becomes second tone (sandhi)
    assert pinyin_tokens("你好") == [" ", "ni2", " ", "hao3"]
    assert pinyin_tokens("你") == [" ", "ni3"]


def test_ascii_words_stay_characters_with_spaces_between_words():
    assert pinyin_tokens("Hello world") == list("Hello world")
    tokens = pinyin_tokens("我爱Python")
    assert tokens[-6:] == list("Python") and tokens[-7] == " "  # a space before the word


def test_punctuation_is_normalised_and_kept():
    tokens = pinyin_tokens("好；“对”")  # full-width ; and curly quotes
    assert "；" in tokens or "," in tokens
    assert pinyin_tokens("a; b") == ["a", ",", " ", "b"]
    assert pinyin_tokens("‘x’") == ["'", "x", "'"]


def test_tokenizer_encodes_syllables_as_single_ids(tmp_path):
    vocab = [" ", "ni2", "hao3", "H", "i", ","]
    path = tmp_path / "vocab.txt"
    path.write_text("\n".join(vocab) + "\n")
    tok = tokenizer_for("pinyin", path)
    assert isinstance(tok, PinyinTokenizer) and tok.name == "pinyin"
    assert tok.encode("你好,Hi") == [0, 1, 0, 2, 5, 0, 3, 4]
    assert tok.unknown_chars("你好") == [] and tok.unknown_chars("猫") == ["mao1"]
    assert tok.all_unknown("猫") and not tok.all_unknown("你好")
    assert tok.all_unknown("你")  # alone it reads ni3, which this vocab lacks
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        assert tok.encode("猫") == [0, 0]  # unknown syllable -> the space, with a warning
