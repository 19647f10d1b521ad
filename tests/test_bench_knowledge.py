"""bench/knowledge.py runs end to end on tiny sizes: the faiss store against exact search and
against bare chromadb (the embedding sections are left to `make bench`: they take minutes)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "bench" / "knowledge.py"


def test_bench_knowledge_quick_smoke() -> None:
    run = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--sections", "1,3", "--no-pg", "--n", "1000",
         "--chroma-n", "500", "--queries", "20"],
        capture_output=True, text=True, timeout=240,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    out = run.stdout
    assert "1. ANN vs exact, faiss store, 1,000 x 384 clustered vectors" in out
    for index in ("flat", "hnsw", "ivf_flat", "ivf_pq"):
        assert f"\n   {index} " in out
    assert "chromadb (bare)" in out and "faiss store, hnsw" in out
    summary = out[out.index("\nSummary"):]
    assert "faiss hnsw vs flat, 1k clustered" in summary
    assert "faiss store, hnsw vs chromadb, 500 clustered" in summary
