"""Vietnamese text normalisation shared by every step of the pipeline.

Three forms of the same text are used:

* ``normalize(text)``: what is stored and shown. NFC, one tone-mark placement
  convention (``hoá`` -> ``hóa``), tidy whitespace. Offsets in results refer to it.
* ``fold(text)``: lower case, tone marks and diacritics removed, ``đ`` -> ``d``;
  matches queries typed without diacritics.
* ``segment(text)``: pyvi word segmentation (``bảo_hiểm y_tế``), lower case,
  the lexical index's word field.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

# Bumped whenever any function here changes what it produces: an index built
# with another version must be rebuilt (the store checks this).
NORMALIZER_VERSION = 1

_TONE_MARKS = {"\u0300", "\u0301", "\u0303", "\u0309", "\u0323"}  # huyền sắc ngã hỏi nặng
_WORD = re.compile(r"\w+", re.UNICODE)
# Syllables ending in oa / oe / uy (no final consonant) are where the two
# conventions disagree: old style "hóa, thủy" vs new style "hoá, thuỷ".
_OLD_STYLE = re.compile(r"^(.*?)(o|u)([aey])$", re.IGNORECASE)


def _place_tone(syllable: str) -> str:
    decomposed = unicodedata.normalize("NFD", syllable)
    tones = [c for c in decomposed if c in _TONE_MARKS]
    if len(tones) != 1:
        return syllable
    bare = unicodedata.normalize("NFC", "".join(c for c in decomposed if c not in _TONE_MARKS))
    match = _OLD_STYLE.match(bare)
    if not match:
        return syllable
    head, first, second = match.groups()
    pair = (first + second).lower()
    if pair not in {"oa", "oe", "uy"} or head.lower().endswith("q") or (pair == "uy" and head.lower().endswith("g")):
        return syllable
    # old style: the tone sits on the first vowel of the pair
    first_toned = unicodedata.normalize("NFC", first + tones[0])
    return head + first_toned + second


@lru_cache(maxsize=200_000)
def _canonical_syllable(word: str) -> str:
    return _place_tone(word)


def normalize(text: str) -> str:
    """NFC, old-style tone placement, no control characters, tidy spaces.

    Line breaks are kept (the chunker reads document structure from them);
    tabs are kept (table cells).
    """
    text = unicodedata.normalize("NFC", text)
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\u00a0", " ")
    text = re.sub(r"[\u200b-\u200f\ufeff\u2028\u2029]", "", text)
    text = re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", "", text)
    text = _WORD.sub(lambda m: _canonical_syllable(m.group(0)), text)
    text = re.sub(r"[ ]{2,}", " ", text)
    return text


def _fold_char(c: str) -> str:
    if c in "đĐ":
        return "d"
    base = unicodedata.normalize("NFD", c)[0]
    return base.lower()


class _FoldTable(dict):
    """code point -> folded character, filled on first use; ``str.translate`` looks
    characters up in C, which is what makes folding a whole archive cheap."""

    def __missing__(self, code: int) -> str:
        c = chr(code)
        mapped = c.lower() if c.isascii() else _fold_char(c)
        self[code] = mapped
        return mapped


_FOLD_TABLE = _FoldTable()


def fold(text: str) -> str:
    """Lower case without any diacritics: ``Đồng Hóa`` -> ``dong hoa``."""
    return text.translate(_FOLD_TABLE)


def has_diacritics(text: str) -> bool:
    return fold(text) != text.lower()


def words(text: str) -> list[str]:
    """Lower-case syllables/words (letters and digits), in order."""
    return [w.lower() for w in _WORD.findall(text)]


def segment(text: str) -> str:
    """pyvi word segmentation, lower case, punctuation dropped: ``bảo_hiểm y_tế``."""
    from pyvi import ViTokenizer  # imported late: loading its model takes ~0.5 s

    tokens = ViTokenizer.tokenize(text).split()
    return " ".join(t.lower() for t in tokens if _WORD.search(t))
