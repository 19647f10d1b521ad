"""The rag plugin's commands on doubles: ingest, search (table and --json), ask, collections."""

from __future__ import annotations

import json
from pathlib import Path

import click
from click.testing import CliRunner
from pygent_plugins.rag import RagPlugin
from pygent_sdk.testing import cli_context

from .rag_kit import doubles


def group() -> click.Group:
    cli = click.Group("pygent")
    RagPlugin.pygent_cli_commands(cli=cli)
    return cli


def test_ingest_search_ask_collections(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "guide.md").write_text("# Guide\n\n## Plugins\n\nWrite a plugin class and register it.\n")
    (docs / "notes.txt").write_text("Quarterly numbers went up.")
    (docs / "logo.svg").write_text("<svg/>")
    (tmp_path / "bad.txt").write_bytes(b"\x00\x01")
    context = cli_context({"doubles": doubles(), "rag": RagPlugin, "models": None, "scripted": None},
                          {"kernel": {"data_dir": str(tmp_path / "data")}, "models": {"default": "scripted:echo"}})
    runner = CliRunner()
    cli = group()

    ingested = runner.invoke(cli, ["ingest", str(docs)], obj=context)
    assert ingested.exit_code == 0, ingested.output
    assert "skipped" in ingested.output and "logo.svg" in ingested.output
    assert "Ingested" in ingested.output and "default" in ingested.output
    failed = runner.invoke(cli, ["ingest", str(tmp_path / "bad.txt"), "-C", "other"], obj=context)
    assert failed.exit_code == 1 and "binary content" in failed.output

    found = runner.invoke(cli, ["search", "plugin class register", "--mode", "keyword", "-k", "1", "--json"], obj=context)
    assert found.exit_code == 0, found.output
    [hit] = json.loads(found.stdout)
    assert list(hit) == ["rank", "score", "source", "document_id", "chunk", "start", "end", "heading", "text"]
    assert (hit["rank"], hit["source"], hit["heading"], hit["chunk"]) == (1, str(docs / "guide.md"), "Guide › Plugins", 0)
    text = (docs / "guide.md").read_text()
    assert text[hit["start"]:hit["end"]] == hit["text"]

    table = runner.invoke(cli, ["search", "plugin class register"], obj=context)
    assert table.exit_code == 0 and "Guide › Plugins" in table.output and "guide.md" in table.output

    asked = runner.invoke(cli, ["ask", "How do I register a plugin class?", "--model", "scripted:echo"], obj=context)
    assert asked.exit_code == 0, asked.output
    assert "Sources" in asked.output
    assert f"[1] {docs / 'guide.md'} › Guide › Plugins (chunk 0, chars" in asked.output.replace("\n", "")

    nothing = runner.invoke(cli, ["ask", "zebra xylophone quantum"], obj=context)
    assert nothing.exit_code == 0 and "Nothing relevant found" in nothing.output

    listed = runner.invoke(cli, ["collections", "list"], obj=context)
    assert listed.exit_code == 0 and "default" in listed.output and "hash" in listed.output
    assert runner.invoke(cli, ["collections", "delete", "default"], obj=context).exit_code == 0
    assert runner.invoke(cli, ["collections", "delete", "default"], obj=context).exit_code == 1
    gone = runner.invoke(cli, ["search", "plugin"], obj=context)
    assert gone.exit_code != 0 and "no knowledge collection 'default'" in str(gone.exception)


def test_ingest_docs_then_ask_cites_writing_plugins(tmp_path: Path, monkeypatch) -> None:
    """Real MiniLM and FAISS: the issue's check, with the scripted model writing the answer."""
    monkeypatch.chdir(Path(__file__).resolve().parent.parent)
    context = cli_context(["embeddings", "faiss", "rag", "models", "scripted"],
                          {"kernel": {"data_dir": str(tmp_path)}})
    runner = CliRunner()
    cli = group()
    ingested = runner.invoke(cli, ["ingest", "docs/"], obj=context)
    assert ingested.exit_code == 0, ingested.output
    assert "Ingested" in ingested.output
    asked = runner.invoke(cli, ["ask", "How do I write a plugin?", "--model", "scripted:echo"], obj=context)
    assert asked.exit_code == 0, asked.output
    sources = asked.output.split("Sources")[1]
    assert "[1] docs/writing-plugins.md › Writing and testing plugins" in sources
    found = runner.invoke(cli, ["search", "How do I write a plugin?", "--json", "-k", "3"], obj=context)
    hits = json.loads(found.stdout)
    assert [h["rank"] for h in hits] == [1, 2, 3] and hits[0]["source"] == "docs/writing-plugins.md"
    text = Path(hits[0]["source"]).read_text()
    assert text[hits[0]["start"]:hits[0]["end"]] == hits[0]["text"]
