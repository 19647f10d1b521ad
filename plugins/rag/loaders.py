"""Files to text: txt, md, html (stdlib parser) and pdf (pypdf); anything else is refused.

Every refusal is an :class:`UnsupportedDocument` naming the file and why: an unknown type, an
empty file, binary content, or a file over the size limit (checked before a byte is read).
"""

from __future__ import annotations

import dataclasses
import re
from html.parser import HTMLParser
from pathlib import Path

from pygent_sdk.knowledge import UnsupportedDocument

FORMATS = {".txt": "text", ".text": "text", ".md": "markdown", ".markdown": "markdown",
           ".html": "html", ".htm": "html", ".pdf": "pdf"}
"""File suffix -> format."""
TEXT_FORMATS = ("text", "markdown", "html")
"""Formats that :func:`extract` accepts as text (``ingest_text``)."""


class EmptyDocument(UnsupportedDocument):
    """A file or text with no text in it (in a walked directory: a note, not a failure)."""


@dataclasses.dataclass(frozen=True, slots=True)
class Loaded:
    """A file's extracted text, its format, and the sha256 of its raw bytes."""

    text: str
    format: str
    sha256: str


def format_of(path: Path) -> str | None:
    """The format of ``path`` by its suffix, None when unsupported."""
    return FORMATS.get(path.suffix.lower())


def load(path: Path, *, max_bytes: int) -> Loaded:
    """Read and extract ``path`` (blocking: run it in a worker thread)."""
    import hashlib

    kind = format_of(path)
    if kind is None:
        raise UnsupportedDocument(
            f"{path}: unsupported file type {path.suffix or '(no suffix)'!r}; "
            f"supported: {', '.join(sorted(FORMATS))}"
        )
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise UnsupportedDocument(
                f"{path}: {size / 1_048_576:.1f} MB is over the limit of "
                f"{max_bytes / 1_048_576:g} MB ([rag] max_file_mb)"
            )
        with path.open("rb") as file:
            raw = file.read(max_bytes + 1)  # bounded even if the file grew since stat()
    except OSError as error:
        raise UnsupportedDocument(f"{path}: cannot read: {error.strerror or error}") from None
    if len(raw) > max_bytes:
        raise UnsupportedDocument(f"{path}: over the limit of {max_bytes / 1_048_576:g} MB ([rag] max_file_mb)")
    digest = hashlib.sha256(raw).hexdigest()
    if kind == "pdf":
        text = pdf_text(raw, str(path))
    else:
        text = extract(decode(raw, str(path)), kind, str(path))
    return Loaded(text, kind, digest)


def decode(raw: bytes, name: str) -> str:
    """UTF-8 (with or without BOM) text of ``raw``; binary content is refused."""
    if b"\x00" in raw[:65536]:
        raise UnsupportedDocument(f"{name}: binary content (NUL bytes), not text")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise UnsupportedDocument(
            f"{name}: not UTF-8 text (undecodable byte at offset {error.start})"
        ) from None


def extract(text: str, kind: str, name: str) -> str:
    """The text of a document given as ``kind`` (text, markdown or html), refused when empty."""
    if kind == "html":
        text = html_text(text)
    elif kind not in ("text", "markdown"):
        raise UnsupportedDocument(f"{name}: unknown format {kind!r}; use one of {', '.join(TEXT_FORMATS)}")
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if "\x00" in text:
        raise UnsupportedDocument(f"{name}: binary content (NUL characters), not text")
    if not text.strip():
        raise EmptyDocument(f"{name}: empty document (no text)")
    return text


def pdf_text(raw: bytes, name: str) -> str:
    """The text of a PDF's pages (pypdf), refused when unreadable or without text."""
    import io

    from pypdf import PdfReader

    try:
        reader = PdfReader(io.BytesIO(raw))
        pages = [page.extract_text() or "" for page in reader.pages]
    except Exception as error:  # noqa: BLE001 - pypdf raises many kinds on malformed input
        raise UnsupportedDocument(f"{name}: not a readable PDF ({error})") from None
    text = "\n\n".join(p.strip() for p in pages if p.strip())
    if not text.strip():
        raise EmptyDocument(f"{name}: the PDF has no extractable text (scanned images?)")
    return text


_BLOCKS = frozenset({
    "p", "div", "section", "article", "header", "footer", "li", "ul", "ol", "table", "tr", "pre",
    "blockquote", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "dt", "dd", "main", "nav",
})
_SKIP = frozenset({"script", "style", "noscript", "template", "head"})


class _Text(HTMLParser):
    """Collects an HTML page's visible text; headings become Markdown headings so that chunking
    sees the page's structure."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            self.skipping += 1
        elif tag in _BLOCKS:
            self.parts.append("\n\n")
            if len(tag) == 2 and tag[0] == "h" and tag[1].isdigit():
                self.parts.append("#" * int(tag[1]) + " ")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self.skipping = max(0, self.skipping - 1)
        elif tag in _BLOCKS:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.parts.append(data)


def html_text(markup: str) -> str:
    """The visible text of an HTML document, paragraphs separated by blank lines."""
    parser = _Text()
    parser.feed(markup)
    parser.close()
    text = "".join(parser.parts)  # character references already converted
    text = re.sub(r"[ \t\f\v]+", " ", text)
    text = re.sub(r" *\n *", "\n", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def walk(paths: list[str], exclude: Path | None = None) -> tuple[list[Path], list[tuple[str, str]], list[str]]:
    """The files to ingest under ``paths``: ``(files, failed, skipped)``.

    Directories are walked recursively in name order, skipping hidden entries, symbolic links
    (so a walk stays inside the directory) and the directory ``exclude`` (resolved: the kernel's
    data directory) when given; their unsupported and zero-byte files are ``skipped`` (a note, not a
    failure). A named path that is missing, of an unsupported type or inside ``exclude`` is
    ``failed`` with the reason."""
    files: list[Path] = []
    failed: list[tuple[str, str]] = []
    skipped: list[str] = []
    for given in paths:
        root = Path(given).expanduser()
        if exclude is not None and inside(root, exclude):
            failed.append((str(root), f"{root}: inside the kernel's data directory {exclude}, never ingested"))
        elif root.is_dir():
            for path in sorted(_tree(root, exclude)):
                (files if format_of(path) and _size(path) else skipped).append(path)
        elif root.is_file():
            if format_of(root):
                files.append(root)
            else:
                failed.append((str(root), f"{root}: unsupported file type {root.suffix or '(no suffix)'!r}; "
                                           f"supported: {', '.join(sorted(FORMATS))}"))
        else:
            failed.append((str(root), f"{root}: no such file or directory"))
    unique: dict[Path, Path] = {}
    for path in files:  # one file named twice, or by two spellings, is read once
        unique.setdefault(path.resolve(), path)
    return list(unique.values()), failed, [str(p) for p in skipped]


def inside(path: Path, directory: Path) -> bool:
    """Whether ``path``, resolved, is ``directory`` (resolved) or below it."""
    real = path.resolve()
    return real == directory or directory in real.parents


def _tree(root: Path, exclude: Path | None) -> list[Path]:
    import os

    found: list[Path] = []
    for top, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith(".")
                   and not (exclude is not None and inside(Path(top, d), exclude))]
        found.extend(p for n in names if not n.startswith(".") and not (p := Path(top, n)).is_symlink())
    return found


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 1  # let load() report why it cannot be read
