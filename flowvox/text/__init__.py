"""flowvox.text: tokenizers and vocab files, normalisation, phonemes, sentence chunking.

Pure text processing: imports neither models nor data.
"""

from flowvox.text.chunking import chunk_text, iter_chunks
from flowvox.text.normalize import collapse_whitespace, normalize_text
from flowvox.text.phonemes import ForeignScriptWarning, phonemize
from flowvox.text.tokenizers import (
    ByteTokenizer,
    CharTokenizer,
    Tokenizer,
    UnknownCharacterWarning,
    UnknownPolicy,
)
from flowvox.text.vocab import (
    build_vocab,
    extend_vocab,
    load_vocab,
    save_vocab,
    validate_vocab,
)

__all__ = [
    "ByteTokenizer",
    "CharTokenizer",
    "ForeignScriptWarning",
    "Tokenizer",
    "UnknownCharacterWarning",
    "UnknownPolicy",
    "build_vocab",
    "chunk_text",
    "collapse_whitespace",
    "extend_vocab",
    "iter_chunks",
    "load_vocab",
    "normalize_text",
    "phonemize",
    "save_vocab",
    "validate_vocab",
]
