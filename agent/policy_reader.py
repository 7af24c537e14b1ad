"""Reading a travel-policy file (Markdown, PDF or plain text) into passages that keep their heading path."""

from __future__ import annotations

import hashlib
import io
import logging
import re
from dataclasses import dataclass
from pathlib import PurePath

from pypdf import PdfReader
from pypdf.errors import PdfReadError, PyPdfError

from storage.errors import InvalidInput
from storage.policy_documents import PassageDraft

log = logging.getLogger(__name__)

MAX_FILE_BYTES = 10 * 1024 * 1024
MAX_PAGES = 500
PASSAGE_CHARS = 1200  # a passage long enough to answer, short enough to cite
_MARKDOWN_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
# "3 Hotels", "3.2 Caps per city", "4.1. Economy class": a short numbered line without a full stop.
_NUMBERED_HEADING = re.compile(r"^(\d{1,2}(?:\.\d{1,2}){0,3})\.?\s+([A-Z][^.;]{1,80})$")
_PDF_MAGIC = b"%PDF-"


@dataclass(frozen=True)
class PolicyFile:
    """A document read and split, ready to store."""

    title: str
    filename: str
    media_type: str
    pages: int | None
    sha256: str
    passages: list[PassageDraft]


def read_policy_file(filename: str, content: bytes, *, title: str | None = None) -> PolicyFile:
    """Read `content`; anything that is not a readable policy document becomes one InvalidInput sentence."""
    name = PurePath(filename).name or "policy"
    if len(content) > MAX_FILE_BYTES:
        raise InvalidInput(
            f"{name} is {len(content) / 1_048_576:.1f} MB; a policy document can be at most "
            f"{MAX_FILE_BYTES // 1_048_576} MB. Split it or remove the images."
        )
    if not content.strip():
        raise InvalidInput(f"{name} is empty.")
    suffix = PurePath(name).suffix.lower()
    if content.startswith(_PDF_MAGIC) or suffix == ".pdf":
        media_type, pages, lines = "pdf", *_pdf_lines(name, content)
    else:
        media_type = "markdown" if suffix in (".md", ".markdown") else "text"
        pages, lines = None, _text_lines(name, content)
    heading, passages = split_passages(lines, markdown=media_type == "markdown")
    if not passages:
        raise InvalidInput(f"I found no text in {name}. A scanned PDF needs to be converted to text first.")
    return PolicyFile(
        title=(title or heading or PurePath(name).stem.replace("_", " ").replace("-", " ").title())[:300],
        filename=name,
        media_type=media_type,
        pages=pages,
        sha256=hashlib.sha256(content).hexdigest(),
        passages=passages,
    )


def _text_lines(name: str, content: bytes) -> list[str]:
    if b"\x00" in content:
        raise InvalidInput(f"{name} is not a text, Markdown or PDF file I can read.")
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInput(
            f"{name} is not a text, Markdown or PDF file I can read (it is not UTF-8)."
        ) from None
    printable = sum(ch.isprintable() or ch.isspace() for ch in text)
    if printable < 0.95 * len(text):
        raise InvalidInput(f"{name} is not a text, Markdown or PDF file I can read.")
    return text.splitlines()


def _pdf_lines(name: str, content: bytes) -> tuple[int, list[str]]:
    try:
        reader = PdfReader(io.BytesIO(content))
        # An owner-password-only PDF opens with the empty user password; anything else stays closed.
        if reader.is_encrypted and not reader.decrypt(""):
            raise InvalidInput(f"{name} is encrypted with a password. Please send an unprotected copy.")
        if len(reader.pages) > MAX_PAGES:
            raise InvalidInput(f"{name} has {len(reader.pages)} pages; the limit is {MAX_PAGES}.")
        lines: list[str] = []
        for page in reader.pages:
            lines += (page.extract_text() or "").splitlines()
            lines.append("")
        return len(reader.pages), lines
    except InvalidInput:
        raise
    except (PdfReadError, PyPdfError, ValueError, KeyError, TypeError, OSError) as error:
        log.info("unreadable PDF %s: %s", name, type(error).__name__)
        raise InvalidInput(f"{name} is not a PDF I can read; it may be damaged.") from None


def _heading(line: str, *, markdown: bool) -> tuple[int, str] | None:
    """The level and text of a heading line, or None for body text."""
    if markdown:
        found = _MARKDOWN_HEADING.match(line)
        if found:
            return len(found.group(1)), found.group(2).strip()
    # A wrapped body line fills the page's width; a heading is short.
    numbered = _NUMBERED_HEADING.match(line.strip()) if len(line.strip()) <= 70 else None
    if numbered and not markdown:
        return numbered.group(1).count(".") + 2, f"{numbered.group(1)} {numbered.group(2).strip()}"
    return None


def split_passages(lines: list[str], *, markdown: bool) -> tuple[str | None, list[PassageDraft]]:
    """The document's title (its only top-level heading) and its passages under their heading paths."""
    headings: list[tuple[int, str]] = [h for line in lines if (h := _heading(line, markdown=markdown))]
    top = [text for level, text in headings if level == 1]
    title = top[0] if len(top) == 1 else None
    path: list[tuple[int, str]] = []
    sections: list[tuple[str, list[str]]] = [("", [])]
    for line in lines:
        found = _heading(line, markdown=markdown)
        if found is None:
            sections[-1][1].append(line.rstrip())
            continue
        level, heading = found
        if level == 1 and heading == title:
            continue
        path = [(lvl, txt) for lvl, txt in path if lvl < level] + [(level, heading)]
        sections.append((" > ".join(txt for _lvl, txt in path), []))
    passages: list[PassageDraft] = []
    for heading_path, body in sections:
        for chunk in _chunks(body):
            passages.append(PassageDraft(heading_path=heading_path or (title or "Introduction"), body=chunk))
    return title, passages


def _chunks(lines: list[str]) -> list[str]:
    """Paragraphs joined up to PASSAGE_CHARS; a longer paragraph is cut at sentence ends."""
    paragraphs = [" ".join(p.split()) for p in "\n".join(lines).split("\n\n")]
    pieces: list[str] = []
    for paragraph in filter(None, paragraphs):
        while len(paragraph) > PASSAGE_CHARS:
            cut = paragraph.rfind(". ", 0, PASSAGE_CHARS)
            cut = cut + 1 if cut > PASSAGE_CHARS // 3 else PASSAGE_CHARS
            pieces.append(paragraph[:cut].strip())
            paragraph = paragraph[cut:].strip()
        pieces.append(paragraph)
    chunks: list[str] = []
    for piece in pieces:
        if chunks and len(chunks[-1]) + len(piece) + 2 <= PASSAGE_CHARS:
            chunks[-1] += "\n\n" + piece
        else:
            chunks.append(piece)
    return chunks
