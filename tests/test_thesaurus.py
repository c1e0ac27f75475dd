"""The everyday <-> administrative thesaurus (qa/data/thesaurus.tsv, qa/thesaurus.py).

The corpus checks read the five documents of corpus/ and the 1,114 real official
documents of ../shared/corpora/vn-official-1114.jsonl.gz once per module: folded with
qa.text.fold into one in-memory SQLite FTS5 table (phrase queries = whole-word
sequences, whitespace and punctuation between words ignored), and the same texts with
their diacritics into another, for the checks that need the accented wording.
"""

from __future__ import annotations

import gzip
import json
import random
import re
import sqlite3
import time
import unicodedata
from dataclasses import dataclass

import pytest

from qa.config import PROJECT_ROOT
from qa.text import fold, normalize
from qa.thesaurus import (
    COLUMNS,
    DOMAINS,
    Thesaurus,
    ThesaurusError,
    expansions,
    load,
    phrase_words,
)

TSV = PROJECT_ROOT / "qa" / "data" / "thesaurus.tsv"
CORPUS = PROJECT_ROOT / "corpus"
SHARED = PROJECT_ROOT.parent / "shared" / "corpora" / "vn-official-1114.jsonl.gz"

# A variant whose folded form is in at least this many official documents, less than
# half of them with the variant's own diacritics, must be marked "*".
AMBIGUOUS_MIN_DOCS = 5


# -- the official corpora ---------------------------------------------------------------
_TONES = "\u0300\u0301\u0303\u0309\u0323"
_OLD_STYLE = re.compile(rf"^(.*?)([oOuU])([{_TONES}])([aAeEyY])$")


def _new_style(word: str) -> str:
    """``hóa`` -> ``hoá``: the other tone placement (qa.text.normalize writes the old one)."""
    decomposed = unicodedata.normalize("NFD", word)
    m = _OLD_STYLE.match(decomposed)
    if not m or m.group(1).lower().endswith("q"):
        return word
    head, first, tone, second = m.groups()
    return unicodedata.normalize("NFC", head + first + second + tone)


@dataclass
class OfficialCorpus:
    names: list[str]               # corpus/<stem> or the shared document's id
    db: sqlite3.Connection

    @classmethod
    def load(cls) -> OfficialCorpus:
        names, texts = [], []
        for path in sorted(CORPUS.glob("*.txt")):
            names.append(f"corpus/{path.stem}")
            texts.append(path.read_text(encoding="utf-8"))
        with gzip.open(SHARED, "rt", encoding="utf-8") as lines:
            for line in lines:
                doc = json.loads(line)
                names.append(doc["id"])
                texts.append(doc["text"])
        db = sqlite3.connect(":memory:")
        tokenizer = "tokenize='unicode61 remove_diacritics 0'"
        db.execute(f"CREATE VIRTUAL TABLE folded USING fts5(body, {tokenizer})")
        db.execute(f"CREATE VIRTUAL TABLE accented USING fts5(body, {tokenizer})")
        folded = [fold(unicodedata.normalize("NFC", t)) for t in texts]
        db.executemany("INSERT INTO folded(rowid, body) VALUES (?, ?)", enumerate(folded))
        db.executemany("INSERT INTO accented(rowid, body) VALUES (?, ?)",
                       ((i, unicodedata.normalize("NFC", t)) for i, t in enumerate(texts)))
        return cls(names, db)

    def _docs(self, table: str, expression: str) -> set[int]:
        return {r for (r,) in self.db.execute(f"SELECT rowid FROM {table} WHERE {table} MATCH ?", (expression,))}

    def folded_docs(self, phrase: str) -> set[int]:
        """Documents where the phrase's folded words occur in sequence."""
        words = phrase_words(phrase)
        return self._docs("folded", '"' + " ".join(words) + '"') if words else set()

    def accented_docs(self, phrase: str) -> set[int]:
        """Documents where the phrase occurs with its diacritics (either tone placement)."""
        words = re.findall(r"\w+", normalize(phrase).lower())
        if not words:
            return set()
        forms = {" ".join(words), " ".join(_new_style(w) for w in words)}
        return self._docs("accented", " OR ".join(f'"{f}"' for f in sorted(forms)))


@pytest.fixture(scope="module")
def corpus() -> OfficialCorpus:
    if not SHARED.exists():
        pytest.skip(f"{SHARED} is absent: the thesaurus's official terms are checked against it")
    return OfficialCorpus.load()


@pytest.fixture(scope="module")
def thesaurus() -> Thesaurus:
    return load()


# -- the file ---------------------------------------------------------------------------
def test_file_parses_with_the_documented_columns(thesaurus):
    lines = TSV.read_text(encoding="utf-8").splitlines()
    assert tuple(lines[0].split("\t")) == COLUMNS
    rows = [line.split("\t") for line in lines[1:] if line.strip()]
    assert all(len(r) == len(COLUMNS) for r in rows)
    assert all(cell.strip() for r in rows for cell in r), "an empty field"
    assert all(r[4] in ("yes", "no") for r in rows)
    assert len(thesaurus.entries) == len(rows)
    assert 300 <= len(rows) <= 450
    assert {e.domain for e in thesaurus.entries} <= DOMAINS
    assert len(thesaurus.version) == 16


def test_no_duplicate_pairs_and_no_self_maps(thesaurus):
    pairs = [(phrase_words(v), phrase_words(e.official)) for e in thesaurus.entries for v in e.everyday]
    assert len(pairs) == len(set(pairs))
    assert all(a != b for a, b in pairs)


def test_variants_are_phrases_not_lone_generic_words(thesaurus):
    """A one-word variant is only allowed for a loan word or an abbreviation typed in
    Latin letters (``zalo``, ``cccd``); a single Vietnamese syllable is too vague."""
    lone = [v for e in thesaurus.entries for v in e.everyday
            if len(phrase_words(v)) == 1 and not (v.isascii() and len(v) >= 3)]
    assert lone == []


def test_malformed_files_are_rejected_with_the_line():
    header = "\t".join(COLUMNS)
    good = "người già\tngười cao tuổi\tsocial\tusage\tno"
    assert len(Thesaurus.parse(f"{header}\n{good}\n").entries) == 1
    bad = {
        "unknown domain": "người già\tngười cao tuổi\tweather\tusage\tno",
        "empty": "người già\tngười cao tuổi\tsocial\t\tno",
        "columns": "người già\tngười cao tuổi\tsocial\tusage",
        "reverse must be": "người già\tngười cao tuổi\tsocial\tusage\tmaybe",
        "official term itself": "người cao tuổi\tngười cao tuổi\tsocial\tusage\tno",
        "repeats line 2": "nguoi gia\tngười cao tuổi\tsocial\tusage\tno",
    }
    for message, line in bad.items():
        with pytest.raises(ThesaurusError, match=message):
            Thesaurus.parse(f"{header}\n{good}\n{line}\n")
    with pytest.raises(ThesaurusError, match="line 1"):
        Thesaurus.parse("everyday\tofficial\n")


def test_version_is_a_hash_of_the_file():
    header = "\t".join(COLUMNS)
    a = f"{header}\nngười già\tngười cao tuổi\tsocial\tusage\tno\n"
    b = a.replace("usage", "usage; corpus")
    assert Thesaurus.parse(a).version == Thesaurus.parse(a).version != Thesaurus.parse(b).version
    assert load().version == Thesaurus.parse(TSV.read_bytes()).version


# -- against the official texts -----------------------------------------------------------
def test_every_official_term_occurs_in_official_text(thesaurus, corpus):
    missing = [(e.line, e.official) for e in thesaurus.entries if not corpus.folded_docs(e.official)]
    assert missing == []


def test_reverse_rows_everyday_wording_occurs_in_official_text(thesaurus, corpus):
    """``reverse = yes`` promises that the official texts use the everyday wording too."""
    reverse = [e for e in thesaurus.entries if e.reverse]
    assert reverse, "no reverse rows"
    missing = [(e.line, v) for e in reverse for v in e.everyday if not corpus.accented_docs(v)]
    assert missing == []


def test_variants_that_fold_to_other_official_words_are_marked(thesaurus, corpus):
    """``so do`` is ``sơ đồ`` in the official texts, not ``sổ đỏ``: such a variant must be
    marked ``*`` (matched only when typed with its diacritics)."""
    unmarked = []
    for e in thesaurus.entries:
        for v in e.everyday:
            if v in e.strict:
                continue
            folded = corpus.folded_docs(v)
            if len(folded) >= AMBIGUOUS_MIN_DOCS and 2 * len(corpus.accented_docs(v) & folded) < len(folded):
                unmarked.append((e.line, v, len(folded)))
    assert unmarked == []


# -- expansions --------------------------------------------------------------------------
EVERYDAY_TO_OFFICIAL = [
    ("thẻ khám bệnh hết hạn", "thẻ bảo hiểm y tế"),
    ("tiền đền bù giải tỏa", "bồi thường, hỗ trợ, tái định cư"),
    ("gửi con đi nhà trẻ", "mầm non"),
    ("thủ tục làm sổ đỏ", "cấp giấy chứng nhận quyền sử dụng đất"),
    ("xin phép xây nhà 3 tầng", "cấp giấy phép xây dựng"),
    ("tiền nộp ngân sách năm 2024", "thu ngân sách"),
    ("chế độ cho người già", "người cao tuổi"),
    ("trợ cấp cho người khuyết tật", "bảo trợ xã hội"),
    ("đường sá quận Bắc Từ Liêm", "hạ tầng giao thông"),
    ("rác thải sinh hoạt không được thu gom", "chất thải rắn sinh hoạt"),
    ("công an phường xử lý", "an ninh trật tự"),
    ("đi nghĩa vụ năm 2021", "tuyển chọn và gọi công dân nhập ngũ"),
    ("nhà nghèo được hỗ trợ", "hộ nghèo"),
]


@pytest.mark.parametrize("query, official", EVERYDAY_TO_OFFICIAL)
def test_everyday_query_gets_the_official_term(query, official):
    for typed in (query, fold(query)):          # with and without diacritics
        others = [o for _, o in expansions(fold(typed), typed)]
        assert official in others, (typed, others)
    others = [o for _, o in expansions(fold(query))]   # and with no typed text at all
    assert official in others


OFFICIAL_TO_EVERYDAY = [
    ("kế hoạch bồi thường, hỗ trợ và tái định cư", "đền bù"),
    ("trường mầm non công lập", "nhà trẻ"),
    ("thu gom chất thải rắn sinh hoạt", "rác thải"),
    ("chính sách cho người cao tuổi", "người già"),
    ("thủ tục đăng ký thường trú", "hộ khẩu"),
]


@pytest.mark.parametrize("query, everyday", OFFICIAL_TO_EVERYDAY)
def test_official_query_gets_the_everyday_wording_of_reverse_rows(query, everyday):
    for typed in (query, fold(query)):
        pairs = expansions(fold(typed), typed)
        assert everyday in [o for _, o in pairs], (typed, pairs)


def test_official_query_of_a_plain_row_gets_nothing_back():
    # "thẻ bảo hiểm y tế" is the official side of "thẻ khám bệnh": no reverse, so nothing
    assert expansions(fold("thẻ bảo hiểm y tế")) == []
    assert expansions(fold("giấy chứng nhận quyền sử dụng đất")) == []


def test_match_reports_the_folded_phrase_of_the_query():
    assert ("the kham benh", "thẻ bảo hiểm y tế") in expansions("the kham benh")
    assert ("lam so do", "cấp giấy chứng nhận quyền sử dụng đất") in expansions(fold("Làm Sổ Đỏ"))


def test_longest_match_wins():
    others = [o for _, o in expansions(fold("thẻ khám bệnh"))]
    assert others == ["thẻ bảo hiểm y tế"]          # not "khám bệnh, chữa bệnh" for "khám bệnh"
    # an official phrase hides the everyday phrase inside it
    assert expansions(fold("điều chỉnh lương hưu")) == []
    pairs = expansions(fold("làm sổ đỏ và tiền đền bù"))
    assert [p for p, _ in pairs][:1] == ["lam so do"]     # longest first


def test_marked_variants_need_their_diacritics():
    def officials(typed: str | None, query: str) -> list[str]:
        return [o for _, o in expansions(fold(query), typed)]

    target = "giấy chứng nhận quyền sử dụng đất"
    assert target in officials("sổ đỏ", "sổ đỏ")
    assert target not in officials("sơ đồ", "sơ đồ")     # the diagram
    assert target not in officials("so do", "so do")     # ambiguous without diacritics
    assert target not in officials(None, "sổ đỏ")        # nothing typed to check against
    assert "thu ngân sách" in officials("đóng thuế", "đóng thuế")
    assert "thu ngân sách" not in officials("đồng thuê", "đồng thuê")


def test_expansions_are_deduplicated_and_skip_what_the_query_says():
    pairs = expansions(fold("tiền đền bù giải phóng mặt bằng"))
    others = [o for _, o in pairs]
    assert len(others) == len(set(others))
    assert "giải phóng mặt bằng" not in others
    assert len(pairs) == len(set(pairs))


def test_unrelated_queries_return_nothing():
    for query in ("công thức nấu phở bò", "thời tiết hôm nay thế nào", "lịch thi đấu bóng rổ",
                  "cong thuc nau pho bo", "hello world"):
        assert expansions(fold(query), query) == [], query


def test_arbitrary_text_does_not_raise():
    rng = random.Random(7)
    alphabet = "aăâbcdđeêghiklmnoôơpqrstuưvxyàảãáạềểễếệ ,.;:!?-_/\\\"'()[]{}0123456789\t\n\x00😀\u0301\u0323"
    samples = ["", " ", "\x00", "___", "😀", "a" * 5000, "sổ đỏ " * 300,
               unicodedata.normalize("NFD", "làm sổ đỏ"), "LÀM SỔ ĐỎ!!!", "thẻ_khám_bệnh"]
    samples += ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 200))) for _ in range(300)]
    for text in samples:
        for typed in (None, text, "khác hẳn"):
            result = expansions(fold(text), typed)
            assert all(isinstance(a, str) and isinstance(b, str) for a, b in result)
    assert expansions(fold(unicodedata.normalize("NFD", "làm sổ đỏ")))  # decomposed input still matches


def test_expansions_are_fast(thesaurus):
    queries = [fold(q) for q, _ in EVERYDAY_TO_OFFICIAL] * 80
    start = time.perf_counter()
    for q in queries:
        thesaurus.expansions(q)
    per_query = (time.perf_counter() - start) / len(queries)
    assert per_query < 0.002, f"{per_query * 1000:.2f} ms per query"
