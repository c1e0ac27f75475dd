"""The lexical side of a search: a BM25 query over three fields, and the tantivy index
that answers it.

A ``LexicalQuery`` is what ``Searcher.lexical_query`` makes of a question: the pyvi
words, the folded syllables and syllable pairs, and the syllables again for the
title-and-section field. Two engines answer it:

* **SQLite FTS5** (``passages_fts`` in ``store.sqlite``): changed in the same
  transaction as the passages, so it always holds exactly the committed passages;
  ``LexicalQuery.fts5`` is its MATCH expression.
* **tantivy** (``lexical/`` in the build folder, this module's ``LexicalIndex``): the same
  three fields, tokenised the same way (runs of ``\\w``, lower case), answered 60–90×
  faster at archive scale (eval/reports/lexical-engines.md, eval/reports/bench.md),
  because it skips postings that cannot reach the top k instead of scoring every
  passage a common syllable occurs in.

tantivy commits on its own, after SQLite. Every commit carries the generation of the
SQLite commit it follows (a document with id 0), so a search uses a tantivy snapshot
only when it is of the generation the search reads, and FTS5 otherwise: in the moment
between the two commits, or after a crash between them until ``LexicalIndex.rebuild``
(called by ``Index.open`` and by the next change) has put tantivy back in line from the
FTS5 table. FTS5 stays the source of truth; tantivy can always be rebuilt from it.
"""

from __future__ import annotations

import json
import logging
import math
import re
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tantivy

log = logging.getLogger(__name__)

FIELDS = ("words", "folded", "context")
FOLDER = "lexical"
# Bump when the schema or what is written changes: an index of another version is made again
# from FTS5. 2: the ``pairs`` field.
SCHEMA_VERSION = 2
_VERSION_FILE = "qa-schema.json"
_META_ID = 0  # passage ids start at 1: id 0 is the document naming the generation
_TOKENIZER = "qa"
_TOKEN = re.compile(r"\w+")  # FTS5's unicode61 with tokenchars '_'
# Memory of a writer: a change is a few hundred passages; a build streams everything
# through one thread, so its buffer only decides how often a segment is written.
_CHANGE_HEAP = 32_000_000
_BUILD_HEAP = 128_000_000


@dataclass(frozen=True)
class LexicalQuery:
    """The terms asked for in each field. A term of several tokens ("mam non", "5,5")
    is a phrase."""

    words: tuple[str, ...] = ()
    folded: tuple[str, ...] = ()
    context: tuple[str, ...] = ()

    def fields(self) -> dict[str, list[str]]:
        """Each field's distinct terms that have a token."""
        return {name: list(dict.fromkeys(t for t in getattr(self, name) if _TOKEN.search(t))) for name in FIELDS}

    def __bool__(self) -> bool:
        return any(self.fields().values())

    def fts5(self) -> str:
        """The FTS5 MATCH expression: each field's terms OR-ed, quoted (a quoted string of
        several tokens is a phrase), the fields OR-ed."""
        parts = [f"{name} : ({' OR '.join(_quoted(t) for t in terms)})" for name, terms in self.fields().items() if terms]
        return " OR ".join(f"({p})" for p in parts)


def _quoted(term: str) -> str:
    return '"' + term.replace('"', '""') + '"'


def _fts5_idf(passages: int, n: int) -> float:
    return math.log((passages - n + 0.5) / (n + 0.5))


def _lucene_idf(passages: int, n: int) -> float:
    return math.log(1 + (passages - n + 0.5) / (n + 0.5))


def _schema() -> tantivy.Schema:
    builder = tantivy.SchemaBuilder()
    builder.add_unsigned_field("id", stored=False, indexed=True, fast=True)
    builder.add_unsigned_field("generation", stored=False, indexed=False, fast=True)
    for name in FIELDS:  # positions: phrases, as FTS5's default detail=full
        builder.add_text_field(name, stored=False, tokenizer_name=_TOKENIZER, index_option="position")
    # Each pair of adjacent folded tokens as one token ("ke_hoach hoach_nam"): a syllable
    # pair of the question, the commonest phrase by far, is a term here, whose passage count
    # is in the term dictionary and whose postings the search can skip, instead of a phrase
    # query counted over the whole index first (eval/reports/lexical-scale.md).
    builder.add_text_field("pairs", stored=False, tokenizer_name=_TOKENIZER, index_option="freq")
    return builder.build()


def pair_tokens(folded: str) -> str:
    """The adjacent token pairs of a text, each one token: "ke hoach nam" -> "ke_hoach hoach_nam"."""
    tokens = _TOKEN.findall(folded.lower())
    return " ".join(f"{a}_{b}" for a, b in zip(tokens, tokens[1:]))


def _analyzer() -> tantivy.TextAnalyzer:
    return tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.regex(_TOKEN.pattern)).filter(tantivy.Filter.lowercase()).build()


class LexicalIndex:
    """The tantivy index of one build (``<build>/lexical``)."""

    def __init__(self, folder: Path, create: bool = False):
        """Open the index in ``folder``; with ``create``, make an empty one (replacing any).
        Raises ValueError (tantivy's) when what is there cannot be opened."""
        self.path = folder / FOLDER
        if create:
            shutil.rmtree(self.path, ignore_errors=True)
            self.path.mkdir(parents=True)
            self.index = tantivy.Index(_schema(), path=str(self.path))
            (self.path / _VERSION_FILE).write_text(json.dumps({"version": SCHEMA_VERSION}))
        else:
            if not self.path.is_dir():
                raise FileNotFoundError(self.path)
            try:
                version = json.loads((self.path / _VERSION_FILE).read_text()).get("version")
            except (OSError, ValueError):
                version = None
            if version != SCHEMA_VERSION:
                raise ValueError(f"made by another version of qa (schema {version}, this one reads {SCHEMA_VERSION})")
            self.index = tantivy.Index.open(str(self.path))
        self.index.register_tokenizer(_TOKENIZER, _analyzer())
        self.schema = self.index.schema

    @classmethod
    def open(cls, folder: Path) -> LexicalIndex | None:
        """The build's tantivy index, or None when it has none or it cannot be read (FTS5
        answers until ``rebuild`` makes it again)."""
        try:
            return cls(folder)
        except FileNotFoundError:
            return None
        except ValueError as exc:
            log.warning("the tantivy index in %s cannot be read (%s); searching with FTS5", folder, exc)
            return None

    # -- reading ---------------------------------------------------------------
    def searcher(self) -> tantivy.Searcher:
        """A snapshot of the newest commit this process has seen (the reader follows
        commits on its own; ``reload`` makes sure of one just made)."""
        return self.index.searcher()

    def reload(self) -> None:
        self.index.reload()

    def generation(self, searcher: tantivy.Searcher) -> int | None:
        """The SQLite generation ``searcher``'s commit follows, or None (never committed)."""
        hits = searcher.search(tantivy.Query.term_query(self.schema, "id", _META_ID), 1, count=False).hits
        return int(searcher.fast_field_values("generation", [hits[0][1]])[0]) if hits else None

    def ids(self, searcher: tantivy.Searcher) -> set[int]:
        """Every passage id ``searcher`` holds (a consistency check: all of them are read)."""
        hits = searcher.search(tantivy.Query.all_query(), max(searcher.num_docs, 1), count=False).hits
        return {int(i) for i in searcher.fast_field_values("id", [a for _, a in hits])} - {_META_ID}

    def search(self, searcher: tantivy.Searcher, query: LexicalQuery, weights: Iterable[float], k: int,
               allowed: np.ndarray | None = None) -> list[tuple[int, float]]:
        """BM25 of each field, times the field's weight, summed; the ``k`` best passage
        ids with their scores, among ``allowed``. Scored as FTS5 scores (``_term``), so
        that both engines rank alike and the ranker trained on one holds for the other."""
        clauses = []
        passages = max(searcher.num_docs - 1, 1)  # without the generation's document
        for (name, terms), weight in zip(query.fields().items(), weights):
            parts = [q for q in (self._term(searcher, passages, name, t) for t in terms) if q is not None]
            if parts and weight > 0:
                clauses.append((tantivy.Occur.Should, tantivy.Query.boost_query(tantivy.Query.boolean_query(
                    [(tantivy.Occur.Should, p) for p in parts]), float(weight))))
        if not clauses or k <= 0 or (allowed is not None and len(allowed) == 0):
            return []
        text = tantivy.Query.boolean_query(clauses)
        if allowed is not None:  # a filter: scores nothing, keeps only these ids
            within = tantivy.Query.const_score_query(tantivy.Query.term_set_query(self.schema, "id", allowed.tolist()), 0.0)
            text = tantivy.Query.boolean_query([(tantivy.Occur.Must, text), (tantivy.Occur.Must, within)])
        hits = searcher.search(text, k, count=False).hits
        if not hits:
            return []
        ids = searcher.fast_field_values("id", [address for _, address in hits])
        return [(int(i), float(score)) for i, (score, _) in zip(ids, hits)]

    def _term(self, searcher: tantivy.Searcher, passages: int, field: str, term: str) -> tantivy.Query | None:
        """One term's query. tantivy's BM25 has k1 1.2 and b 0.75 as FTS5's, but Lucene's
        idf, log(1 + (N - n + .5) / (n + .5)), where FTS5 has log((N - n + .5) / (n + .5)),
        at least 1e-6: a syllable in most passages ("co", "cua", "va") weighs nothing in
        FTS5 and about log 2 in tantivy. A term is boosted by the ratio of the two, and
        left out when FTS5 gives it no weight (faster too). A folded pair is a term of
        ``pairs`` (it occurs there exactly where the phrase occurs in ``folded``; scored with
        that field's lengths, one token shorter). Longer phrases are counted first, then
        boosted to their FTS5 idf over the sum of their terms' tantivy idfs."""
        tokens = _TOKEN.findall(term.lower())
        if not tokens:
            return None
        if field == "folded" and len(tokens) == 2:
            field, tokens = "pairs", ["_".join(tokens)]
        if len(tokens) > 1:
            return self._phrase(searcher, passages, field, tokens)
        n = searcher.doc_freq(field, tokens[0])
        if n == 0 or n >= passages / 2:
            return None
        query = tantivy.Query.term_query(self.schema, field, tokens[0], index_option="freq")
        return tantivy.Query.boost_query(query, _fts5_idf(passages, n) / _lucene_idf(passages, n))

    def _phrase(self, searcher: tantivy.Searcher, passages: int, field: str, tokens: list[str]) -> tantivy.Query | None:
        """A phrase's query: its passages counted first (a phrase's count is not in the
        index), then boosted to its FTS5 idf over the sum of its tokens' tantivy idfs."""
        phrase = tantivy.Query.phrase_query(self.schema, field, tokens)
        n = searcher.search(phrase, 1, count=True).count
        if n == 0 or n >= passages / 2:
            return None
        lucene = sum(_lucene_idf(passages, searcher.doc_freq(field, t)) for t in tokens)
        return tantivy.Query.boost_query(phrase, _fts5_idf(passages, n) / lucene)

    # -- changing --------------------------------------------------------------
    def write(self, generation: int, rows: Iterable[tuple[int, str, str, str]] = (), remove: Iterable[int] = (),
              everything: bool = False, heap: int = _CHANGE_HEAP) -> None:
        """One commit: remove the passages ``remove`` (or, with ``everything``, all),
        add ``rows`` (passage id, words, folded, context), and name ``generation``.

        Called by the one SQLite writer of the build (inside or right after its
        transaction), so no two processes open a tantivy writer at once."""
        writer = self.index.writer(heap_size=heap, num_threads=1)
        try:
            if everything:
                writer.delete_all_documents()
            else:
                remove = [int(i) for i in remove]
                if remove:
                    writer.delete_documents_by_query(tantivy.Query.term_set_query(self.schema, "id", remove))
            writer.delete_documents_by_query(tantivy.Query.term_query(self.schema, "id", _META_ID))
            for pid, words, folded, context in rows:
                doc = tantivy.Document()
                doc.add_unsigned("id", int(pid))
                doc.add_text("words", words)
                doc.add_text("folded", folded)
                doc.add_text("context", context)
                doc.add_text("pairs", pair_tokens(folded))
                writer.add_document(doc)
            meta = tantivy.Document()
            meta.add_unsigned("id", _META_ID)
            meta.add_unsigned("generation", int(generation))
            writer.add_document(meta)
            writer.commit()
        except BaseException:
            writer.rollback()
            raise
        finally:
            writer.wait_merging_threads()
        self.index.reload()

    def rebuild(self, generation: int, rows: Iterable[tuple[int, str, str, str]]) -> None:
        """Everything again from ``rows`` (the FTS5 table's), as ``generation``."""
        self.write(generation, rows, everything=True, heap=_BUILD_HEAP)
