"""Everyday <-> administrative Vietnamese, for query expansion.

Citizens type ``thẻ khám bệnh``, ``tiền đền bù``, ``nhà trẻ``, ``làm sổ đỏ``; the
documents say ``thẻ bảo hiểm y tế``, ``bồi thường, hỗ trợ, tái định cư``, ``mầm non``,
``cấp giấy chứng nhận quyền sử dụng đất``. ``expansions(folded_query)`` finds the
thesaurus phrases in a query and returns the other side's wording, for the lexical
query and the dense query alike (beside the abbreviation table of ``qa.query``)::

    >>> expansions(fold("làm sổ đỏ ở Bắc Từ Liêm"))
    [('lam so do', 'cấp giấy chứng nhận quyền sử dụng đất')]

Matching
--------
Phrases are sequences of whole words (``\\w+``) of the folded query (``qa.text.fold``:
no diacritics, lower case), so ``thẻ khám bệnh`` and ``the kham benh`` both match, and
punctuation inside a phrase does not matter (``kinh tế-xã hội`` = ``kinh tế xã hội``).

* **Everyday side matched** -> the official term (the point: recall on official text).
* **Official side matched** -> the everyday variants *only on rows marked*
  ``reverse = yes``. The documents are written in the official words, so a query that
  already uses them gains nothing, and adding ``người già`` or ``tiền đền bù`` to it
  would only dilute both the lexical query and the embedding. ``yes`` is for the few
  rows whose everyday wording the official texts also use (``đền bù``, ``nhà trẻ``,
  ``rác thải``, ``hộ khẩu``): there the other wording does find more passages. The tests
  check that every everyday variant of a ``reverse`` row occurs in the official corpora.
* **Longest match wins**: a match lying inside a longer match is dropped
  (``thẻ khám bệnh`` hides ``khám bệnh``; ``điều chỉnh lương hưu``, an official phrase,
  hides the everyday ``lương hưu``). Official phrases take part in this even when they
  yield nothing: the query already says it the official way.
* Results are ordered longest match first, then by position, and deduplicated on the
  expansion's folded text; an expansion the query already contains is left out.
* **Variants marked ``*``** (``sổ đỏ*``) fold to a different common word of the official
  texts (``so do`` is nearly always ``sơ đồ`` there, ``dong thue`` is ``đồng thuê``,
  ``tuyen duong`` is ``tuyến đường``). They match only when the caller passes ``typed``
  (the query with diacritics: as typed, or as restored by ``qa.query``) and its words
  equal the variant's words with their diacritics. The tests mark which variants need
  it: any whose folded form occurs in at least 5 official documents, less than half
  of the time with the variant's own diacritics.

Maintaining ``qa/data/thesaurus.tsv``
-------------------------------------
UTF-8, tab-separated, one header line, five columns, no empty field:

``everyday``  what citizens type, with diacritics; variants separated by ``|``; a
              trailing ``*`` marks a variant that must be typed with diacritics (above).
              Multi-word phrases; never a lone generic word (``tiền``, ``nhà``, ``phường``).
              Unaccented spellings are not separate variants: matching is on folded text.
``official``  the administrative term exactly as official documents write it. The tests
              require it to occur in the corpora: the documents in ``corpus/`` and the
              1,114 official documents of ``../shared/corpora/vn-official-1114.jsonl.gz``.
``domain``    one of ``DOMAINS``.
``source``    where the pairing comes from: ``usage`` (common usage) plus the document
              in which the official term occurs; say so when the official texts use the
              everyday wording too. Do not claim more than you checked.
``reverse``   ``yes`` or ``no`` (see above).

One everyday phrase may map to several official terms (one row each); a pair
(variant, official) appears once. ``Thesaurus.version`` (a hash of the file) changes with
any edit, so caches and indexes that depend on the expansions can tell.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path

from qa.text import fold, normalize

COLUMNS: tuple[str, ...] = ("everyday", "official", "domain", "source", "reverse")
DOMAINS: frozenset[str] = frozenset({
    "administration", "agriculture", "budget", "construction", "culture", "defence",
    "disaster", "economy", "education", "environment", "health", "insurance", "justice",
    "labour", "land", "security", "social", "tax", "transport", "urban", "utilities",
})
STRICT_MARK = "*"

_WORD = re.compile(r"\w+", re.UNICODE)


def phrase_words(text: str) -> tuple[str, ...]:
    """The folded words of a phrase: what matching compares."""
    return tuple(_WORD.findall(fold(unicodedata.normalize("NFC", text))))


def _accented_words(text: str) -> tuple[str, ...]:
    return tuple(_WORD.findall(normalize(text).lower()))


@dataclass(frozen=True)
class Entry:
    everyday: tuple[str, ...]   # variants as written, without the "*" mark
    official: str
    domain: str
    source: str
    reverse: bool               # an official-side match yields the everyday variants
    strict: frozenset[str] = frozenset()   # variants that must be typed with diacritics
    line: int = 0               # line number in the TSV (1 = header)


@dataclass(frozen=True)
class _Phrase:
    words: tuple[str, ...]               # folded
    accented: tuple[str, ...] | None     # set for "*" variants: the typed words must equal these
    yields: tuple[str, ...]              # the other side's texts


class ThesaurusError(ValueError):
    """The TSV is malformed; the message names the line."""


@dataclass(frozen=True)
class Thesaurus:
    entries: tuple[Entry, ...]
    version: str                                   # sha256 of the file, 16 hex digits
    _index: dict[str, tuple[_Phrase, ...]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_index", _build_index(self.entries))

    # -- loading ---------------------------------------------------------------
    @classmethod
    def parse(cls, data: str | bytes) -> Thesaurus:
        raw = data.encode("utf-8") if isinstance(data, str) else data
        text = raw.decode("utf-8-sig")
        lines = text.splitlines()
        if not lines or tuple(c.strip() for c in lines[0].split("\t")) != COLUMNS:
            raise ThesaurusError(f"line 1: the header must be {' <tab> '.join(COLUMNS)}")
        entries = [cls._entry(number, line) for number, line in enumerate(lines[1:], start=2) if line.strip()]
        seen: dict[tuple[tuple[str, ...], tuple[str, ...]], int] = {}
        for e in entries:
            for v in e.everyday:
                pair = (phrase_words(v), phrase_words(e.official))
                if pair in seen:
                    raise ThesaurusError(f"line {e.line}: {v!r} -> {e.official!r} repeats line {seen[pair]}")
                seen[pair] = e.line
        version = hashlib.sha256(raw).hexdigest()[:16]
        return cls(tuple(entries), version)

    @staticmethod
    def _entry(number: int, line: str) -> Entry:
        cells = [c.strip() for c in line.split("\t")]
        if len(cells) != len(COLUMNS):
            raise ThesaurusError(f"line {number}: {len(cells)} columns, expected {len(COLUMNS)}")
        everyday, official, domain, source, reverse = cells
        if not all(cells):
            empty = [name for name, cell in zip(COLUMNS, cells) if not cell]
            raise ThesaurusError(f"line {number}: empty {', '.join(empty)}")
        if domain not in DOMAINS:
            raise ThesaurusError(f"line {number}: unknown domain {domain!r}; known: {', '.join(sorted(DOMAINS))}")
        if reverse not in ("yes", "no"):
            raise ThesaurusError(f"line {number}: reverse must be yes or no, not {reverse!r}")
        variants, strict = [], set()
        for v in everyday.split("|"):
            v = normalize(v.strip())
            if v.endswith(STRICT_MARK):
                v = v[: -len(STRICT_MARK)].strip()
                strict.add(v)
            if not phrase_words(v):
                raise ThesaurusError(f"line {number}: an empty everyday variant")
            variants.append(v)
        official = normalize(official)
        if not phrase_words(official):
            raise ThesaurusError(f"line {number}: the official term has no words")
        if reverse == "yes" and strict:
            raise ThesaurusError(f"line {number}: a reverse row cannot have '*' variants")
        for v in variants:
            if phrase_words(v) == phrase_words(official):
                raise ThesaurusError(f"line {number}: {v!r} is the official term itself")
        return Entry(tuple(dict.fromkeys(variants)), official, domain, source, reverse == "yes",
                     frozenset(strict), number)

    @classmethod
    def load(cls, path: str | Path | None = None) -> Thesaurus:
        """The TSV at ``path``, or the one shipped in the package."""
        if path is None:
            return cls.parse(resources.files("qa").joinpath("data", "thesaurus.tsv").read_bytes())
        return cls.parse(Path(path).read_bytes())

    # -- matching --------------------------------------------------------------
    def expansions(self, folded_query: str, typed: str | None = None) -> list[tuple[str, str]]:
        """``(phrase as folded in the query, the other side's text with diacritics)``.

        ``typed``: the query with its diacritics (as typed, or restored), which lets the
        ``*`` variants match; without it they never do.
        """
        # folding again is harmless (idempotent) and NFC first joins decomposed marks
        words = list(_WORD.findall(fold(unicodedata.normalize("NFC", folded_query or ""))))
        if not words:
            return []
        typed_words: list[str] | None = None
        if typed:
            candidate = list(_accented_words(typed))
            if [fold(w) for w in candidate] == words:
                typed_words = candidate
        spans: list[tuple[int, int, _Phrase]] = []
        for i, word in enumerate(words):
            for phrase in self._index.get(word, ()):
                j = i + len(phrase.words)
                if tuple(words[i:j]) != phrase.words:
                    continue
                if phrase.accented is not None and (typed_words is None or tuple(typed_words[i:j]) != phrase.accented):
                    continue
                spans.append((i, j, phrase))
        kept = [s for s in spans
                if not any(o[0] <= s[0] and s[1] <= o[1] and o[1] - o[0] > s[1] - s[0] for o in spans)]
        kept.sort(key=lambda s: (s[0] - s[1], s[0]))
        padded = f" {' '.join(words)} "
        seen: set[str] = set()
        out: list[tuple[str, str]] = []
        for i, j, phrase in kept:
            matched = " ".join(words[i:j])
            for other in phrase.yields:
                key = " ".join(phrase_words(other))
                if key in seen or f" {key} " in padded:
                    continue
                seen.add(key)
                out.append((matched, other))
        return out

    def domains(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for e in self.entries:
            counts[e.domain] = counts.get(e.domain, 0) + 1
        return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def _build_index(entries: Iterable[Entry]) -> dict[str, tuple[_Phrase, ...]]:
    """First folded word -> the phrases starting with it, longest first. Phrases with the
    same words (and the same diacritics requirement) are merged, their yields joined."""
    merged: dict[tuple[tuple[str, ...], tuple[str, ...] | None], list[str]] = {}
    for e in entries:
        for v in e.everyday:
            accented = _accented_words(v) if v in e.strict else None
            merged.setdefault((phrase_words(v), accented), []).append(e.official)
        reverse = [v for v in e.everyday if v not in e.strict] if e.reverse else []
        merged.setdefault((phrase_words(e.official), None), []).extend(reverse)
    index: dict[str, list[_Phrase]] = {}
    for (words, accented), yields in merged.items():
        index.setdefault(words[0], []).append(_Phrase(words, accented, tuple(dict.fromkeys(yields))))
    return {w: tuple(sorted(ps, key=lambda p: -len(p.words))) for w, ps in index.items()}


@lru_cache(maxsize=1)
def load() -> Thesaurus:
    """The packaged thesaurus, parsed once per process."""
    return Thesaurus.load()


def expansions(folded_query: str, typed: str | None = None) -> list[tuple[str, str]]:
    """``load().expansions(...)``: see ``Thesaurus.expansions``."""
    return load().expansions(folded_query, typed)
