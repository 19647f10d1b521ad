"""Where FAISS searches run: the CPU, or a CUDA GPU when faiss was built with CUDA and sees one."""

from __future__ import annotations

import threading
from typing import Any

from pygent_sdk.errors import PygentError

GPU_MAX_K = 2048
"""The most results faiss's GPU indexes select per query; a larger ``k`` searches on the CPU."""


class DeviceUnavailable(PygentError):
    """``device = "cuda"`` was asked for, and this faiss cannot use a GPU."""


class Device:
    """The device a store searches on, with the reason when it is the CPU.

    The CPU indexes stay the ones that are written and saved; on a GPU, a search uses a copy
    made with ``faiss.index_cpu_to_gpu`` on first use and made again after the next write.
    """

    def __init__(self, faiss: Any, wanted: str, float16: bool) -> None:
        self._faiss = faiss
        self.float16 = float16
        self.name = "cpu"
        self.note = ""
        self._resources: Any = None
        self._lock = threading.Lock()
        if wanted == "cpu":
            self.note = 'device = "cpu" in [faiss]'
            return
        if not hasattr(faiss, "StandardGpuResources"):
            reason = "faiss-cpu build, no GPU support"
        elif faiss.get_num_gpus() == 0:
            reason = "no GPU visible to this faiss build"
        else:
            self.name = "cuda"
            return
        if wanted == "cuda":
            raise DeviceUnavailable(f'[faiss] device = "cuda", but {reason}; use "auto" or "cpu"')
        self.note = reason

    def __str__(self) -> str:
        return self.name if self.name == "cuda" else f"cpu ({self.note})"

    def search(self, index: Any, query: Any, k: int) -> Any:
        """``index.search``; one GPU search at a time (GPU indexes are not thread-safe)."""
        if self.name != "cuda":
            return index.search(query, k)
        with self._lock:
            return index.search(query, k)

    def to_gpu(self, index: Any) -> Any:
        """A GPU copy of a CPU index, or None when this index type cannot run there."""
        if self.name != "cuda":
            return None
        faiss = self._faiss
        with self._lock:
            if self._resources is None:
                self._resources = faiss.StandardGpuResources()
        options = faiss.GpuClonerOptions()
        options.useFloat16 = self.float16
        try:
            return faiss.index_cpu_to_gpu(self._resources, 0, index, options)
        except RuntimeError:  # e.g. HNSW, or a PQ size the GPU does not implement
            return None
