"""Documents -> passages: reading files, detecting their format, and splitting them with offsets.

Formats (by file suffix):

* markdown (``.md``, ``.markdown``, ``.mdx``): split on ATX headings (``#`` .. ``######``), then
  on blank lines; the heading path ("Store hours > Holidays") becomes the passage title.
  Fenced code blocks are never split, YAML front matter is skipped, and each data row of a
  table is its own passage, titled with the heading path and the table header.
* text (``.txt``, ``.text``, ``.rst``, and any explicitly named file of unknown type): paragraphs.
* JSONL (``.jsonl``, ``.ndjson``): one record ``{"id", "text", "title"?}`` per line.
* CSV (``.csv``, ``.tsv``): one record per row; see :func:`detect_csv_columns`.

Each record of a JSONL/CSV file becomes one passage, split only when longer than ``max_chars``;
its offsets refer to the record's text. Any paragraph longer than ``max_chars`` is split on
sentence ends (then on whitespace). A paragraph ending in ":" is joined with the next one so
that "Our hours are:" stays with the list it introduces.

A binary or non-UTF-8 file is not an error for a directory ingest: it is reported as a
:class:`SkippedFile` naming the path and the reason.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from llmmon.errors import KnowledgeBaseError
from llmmon.knowledge.passage import Passage, make_passage_id

__all__ = [
    "DEFAULT_MAX_CHARS",
    "CollectResult",
    "DocumentFormat",
    "ParsedDocument",
    "SkippedFile",
    "collect_documents",
    "detect_csv_columns",
    "detect_format",
    "parse_document",
    "read_document",
]

DocumentFormat = Literal["markdown", "text", "jsonl", "csv"]
DEFAULT_MAX_CHARS = 800
# Bump when the splitting rules change: it is part of every content hash, so the next
# ingest re-splits unchanged files and the KB version hash moves with it.
_SPLITTER_VERSION = "1"

_SUFFIX_FORMATS: dict[str, DocumentFormat] = {
    ".md": "markdown",
    ".markdown": "markdown",
    ".mdx": "markdown",
    ".txt": "text",
    ".text": "text",
    ".rst": "text",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".csv": "csv",
    ".tsv": "csv",
}
_TEXT_COLUMNS = ("text", "content", "body", "passage", "answer", "description", "document", "chunk")
_TITLE_COLUMNS = ("title", "heading", "question", "name", "subject", "topic")
_ID_COLUMNS = ("id", "doc_id", "passage_id", "record_id", "key")

_HEADING_RE = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*?)[ \t]*#*[ \t]*$")
_FENCE_RE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
# Where a long paragraph may be cut: after a sentence end (., !, ?, 。, Korean "다.") or at a line break.
_SENTENCE_END_RE = re.compile(r"(?<=[.!?。])[\"')\]]*\s+|\n")


@dataclass(frozen=True)
class _Draft:
    record_id: str | None
    start: int
    end: int
    title: str
    text: str


@dataclass(frozen=True)
class ParsedDocument:
    """A document split into passages, before it gets a knowledge base (and so passage ids)."""

    source: str
    format: DocumentFormat
    title: str
    text: str
    content_hash: str
    drafts: tuple[_Draft, ...]
    warnings: tuple[str, ...] = ()

    def passages(self, kb_name: str) -> list[Passage]:
        """The document's passages with their stable ids in knowledge base ``kb_name``."""
        return [
            Passage(
                passage_id=make_passage_id(kb_name, self.source, d.record_id, d.start, d.end, d.text),
                source=self.source,
                start=d.start,
                end=d.end,
                text=d.text,
                title=d.title,
                record_id=d.record_id,
            )
            for d in self.drafts
        ]


@dataclass(frozen=True)
class SkippedFile:
    """A file that was not ingested, and why (binary, not UTF-8, unsupported type)."""

    path: Path
    reason: str

    def __str__(self) -> str:
        return f"skipped {self.path}: {self.reason}"


@dataclass
class CollectResult:
    """What :func:`collect_documents` found: parsed documents and skipped files."""

    documents: list[ParsedDocument] = field(default_factory=list)
    skipped: list[SkippedFile] = field(default_factory=list)


def detect_format(path: Path) -> DocumentFormat | None:
    """The format implied by the file suffix, or None when llmmon does not know it."""
    return _SUFFIX_FORMATS.get(path.suffix.lower())


def _decode(data: bytes, *, name: str) -> str:
    if b"\x00" in data:
        raise KnowledgeBaseError(f"{name}: binary file (contains NUL bytes), not UTF-8 text")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise KnowledgeBaseError(f"{name}: not UTF-8 text (invalid byte at offset {exc.start})") from exc
    # Offsets refer to the stored text, so normalise line ends once, here.
    return text.replace("\r\n", "\n").replace("\r", "\n")


def read_document(
    path: Path,
    *,
    source: str | None = None,
    format: DocumentFormat | None = None,
    text_column: str | None = None,
    max_chars: int = DEFAULT_MAX_CHARS,
) -> ParsedDocument:
    """Read and split one file. Raises KnowledgeBaseError naming the file if it is binary or not UTF-8."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise KnowledgeBaseError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    text = _decode(data, name=str(path))
    return parse_document(
        text,
        source=source or path.name,
        format=format or detect_format(path) or "text",
        text_column=text_column,
        max_chars=max_chars,
    )


def _walk(root: Path) -> Iterator[Path]:
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if any(part.startswith(".") for part in relative.parts):
            continue  # .git, .DS_Store, editor swap files
        if path.is_file():
            yield path


def collect_documents(
    paths: Iterable[Path],
    *,
    text_column: str | None = None,
    max_chars: int = DEFAULT_MAX_CHARS,
) -> CollectResult:
    """Read every file named, and every supported file under every directory named.

    A file inside a directory gets its path relative to that directory as source id; a file
    named directly gets its file name. Unsupported, binary and non-UTF-8 files are skipped.
    """
    result = CollectResult()
    seen: set[str] = set()
    for root in paths:
        if root.is_dir():
            candidates = [(p, p.relative_to(root).as_posix(), detect_format(p)) for p in _walk(root)]
        elif root.is_file():
            candidates = [(root, root.name, detect_format(root) or "text")]
        else:
            raise KnowledgeBaseError(f"{root}: no such file or directory")
        for path, source, fmt in candidates:
            if fmt is None:
                result.skipped.append(SkippedFile(path, f"unsupported file type {path.suffix or '(none)'!r}"))
                continue
            if source in seen:
                result.skipped.append(SkippedFile(path, f"another file already has the source id {source!r}"))
                continue
            try:
                document = read_document(
                    path, source=source, format=fmt, text_column=text_column, max_chars=max_chars
                )
            except KnowledgeBaseError as exc:
                result.skipped.append(SkippedFile(path, str(exc).removeprefix(f"{path}: ")))
                continue
            seen.add(source)
            result.documents.append(document)
    return result


def parse_document(
    text: str,
    *,
    source: str,
    format: DocumentFormat,
    text_column: str | None = None,
    max_chars: int = DEFAULT_MAX_CHARS,
) -> ParsedDocument:
    """Split already-decoded ``text`` into passages; ``source`` names the document."""
    if max_chars < 50:
        raise KnowledgeBaseError(f"max_chars must be at least 50, got {max_chars}")
    stem = source.rsplit("/", 1)[-1].rsplit(".", 1)[0]
    warnings: list[str] = []
    if format == "markdown":
        title, drafts = _split_markdown(text, default_title=stem, max_chars=max_chars)
    elif format == "text":
        title = stem
        drafts = _split_plain(text, title=stem, record_id=None, max_chars=max_chars)
    elif format == "jsonl":
        title = stem
        drafts = _split_records(
            _jsonl_records(text, source, warnings), default_title=stem, max_chars=max_chars
        )
    elif format == "csv":
        title = stem
        records = _csv_records(text, source, warnings, text_column=text_column, tab=source.endswith(".tsv"))
        drafts = _split_records(records, default_title=stem, max_chars=max_chars)
    else:
        raise KnowledgeBaseError(f"{source}: unknown document format {format!r}")
    if not drafts:
        warnings.append(f"{source}: no text to index")
    recipe = f"{_SPLITTER_VERSION}|{format}|{max_chars}|{text_column or ''}"
    content_hash = hashlib.sha256(f"{recipe}\n{text}".encode()).hexdigest()
    return ParsedDocument(
        source=source,
        format=format,
        title=title,
        text=text,
        content_hash=content_hash,
        drafts=tuple(drafts),
        warnings=tuple(warnings),
    )


# --- paragraphs and long-paragraph splitting -------------------------------------------------


def _lines(text: str) -> Iterator[tuple[int, int, str]]:
    """(start, end, line) for every line, ``end`` excluding the newline."""
    position = 0
    for line in text.split("\n"):
        yield position, position + len(line), line
        position += len(line) + 1


def _trimmed(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _finish_blocks(
    text: str, blocks: list[tuple[int, int, str]], *, record_id: str | None, max_chars: int
) -> list[_Draft]:
    """Trim blocks, join "...:" intros with what follows, split long ones, and make drafts."""
    trimmed = [(*_trimmed(text, s, e), title) for s, e, title in blocks]
    trimmed = [(s, e, t) for s, e, t in trimmed if e > s]
    joined: list[tuple[int, int, str]] = []
    for start, end, title in trimmed:
        if joined:
            p_start, p_end, p_title = joined[-1]
            if text[p_end - 1] == ":" and p_title == title and end - p_start <= max_chars:
                joined[-1] = (p_start, end, title)
                continue
        joined.append((start, end, title))
    drafts: list[_Draft] = []
    for start, end, title in joined:
        for piece_start, piece_end in _split_long(text, start, end, max_chars):
            drafts.append(_Draft(record_id, piece_start, piece_end, title, text[piece_start:piece_end]))
    return drafts


def _split_long(text: str, start: int, end: int, max_chars: int) -> Iterator[tuple[int, int]]:
    """Cut [start, end) into pieces of at most ``max_chars``, preferring sentence ends."""
    while end - start > max_chars:
        window_end = start + max_chars
        cut = -1
        for match in _SENTENCE_END_RE.finditer(text, start, window_end):
            if match.start() > start:
                cut = match.start()
        if cut <= start:
            space = text.rfind(" ", start + 1, window_end)
            cut = space if space > start else window_end
        piece = _trimmed(text, start, cut)
        if piece[1] > piece[0]:
            yield piece
        start, _ = _trimmed(text, cut, end)
    if end > start:
        yield start, end


def _split_plain(text: str, *, title: str, record_id: str | None, max_chars: int) -> list[_Draft]:
    blocks: list[tuple[int, int, str]] = []
    block_start: int | None = None
    block_end = 0
    for line_start, line_end, line in _lines(text):
        if line.strip():
            if block_start is None:
                block_start = line_start
            block_end = line_end
        elif block_start is not None:
            blocks.append((block_start, block_end, title))
            block_start = None
    if block_start is not None:
        blocks.append((block_start, block_end, title))
    return _finish_blocks(text, blocks, record_id=record_id, max_chars=max_chars)


def _front_matter_end(text: str) -> tuple[int, str | None]:
    """Offset after a leading YAML front matter block (0 if none), and its ``title:`` if any."""
    if not text.startswith("---\n"):
        return 0, None
    title: str | None = None
    for line_start, line_end, line in _lines(text):
        if line_start == 0:
            continue
        if line.strip() in ("---", "..."):
            return min(line_end + 1, len(text)), title
        if line.startswith("title:"):
            title = line.removeprefix("title:").strip().strip("\"'") or None
    return 0, None  # unterminated: treat as ordinary text


def _split_markdown(text: str, *, default_title: str, max_chars: int) -> tuple[str, list[_Draft]]:
    body_start, doc_title = _front_matter_end(text)
    headings: list[tuple[int, str]] = []
    blocks: list[tuple[int, int, str]] = []
    block_start: int | None = None
    block_end = 0
    fence: str | None = None

    def section_title() -> str:
        return " > ".join(h for _, h in headings) or doc_title or default_title

    for line_start, line_end, line in _lines(text):
        if line_start < body_start:
            continue
        if fence is not None:  # inside a fenced block nothing is a heading or a paragraph break
            block_end = line_end
            if line.strip().startswith(fence):
                fence = None
            continue
        fence_match = _FENCE_RE.match(line)
        if fence_match:
            fence = fence_match.group(1)[0] * 3
            if block_start is None:
                block_start = line_start
            block_end = line_end
            continue
        heading = _HEADING_RE.match(line)
        if heading or not line.strip():
            if block_start is not None:
                blocks.append((block_start, block_end, section_title()))
                block_start = None
            if heading:
                level, heading_text = len(heading.group(1)), heading.group(2).strip()
                while headings and headings[-1][0] >= level:
                    headings.pop()
                headings.append((level, heading_text))
                if level == 1 and doc_title is None:
                    doc_title = heading_text
            continue
        if block_start is None:
            block_start = line_start
        block_end = line_end
    if block_start is not None:
        blocks.append((block_start, block_end, section_title()))
    rows = [row for block in blocks for row in _table_rows(text, *block) or [block]]
    return doc_title or default_title, _finish_blocks(text, rows, record_id=None, max_chars=max_chars)


_TABLE_SEPARATOR_RE = re.compile(r"^\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$")


def _table_rows(text: str, start: int, end: int, title: str) -> list[tuple[int, int, str]] | None:
    """One block per data row of a markdown table (None if the block is not a table).

    A whole table in one passage would let "Saturday 10 AM" find support in Monday's row;
    one row per passage keeps each fact with its own evidence. The header goes into the title.
    """
    lines = [(start + s, start + e, line) for s, e, line in _lines(text[start:end])]
    if len(lines) < 3 or not all(line.lstrip().startswith("|") for _, _, line in lines):
        return None
    if not _TABLE_SEPARATOR_RE.match(lines[1][2]):
        return None
    header = " | ".join(cell.strip() for cell in lines[0][2].strip().strip("|").split("|"))
    return [(s, e, f"{title} ({header})") for s, e, line in lines[2:] if line.strip()]


# --- records (JSONL, CSV) --------------------------------------------------------------------


@dataclass(frozen=True)
class _Record:
    record_id: str
    text: str
    title: str | None


def _split_records(records: Iterable[_Record], *, default_title: str, max_chars: int) -> list[_Draft]:
    drafts: list[_Draft] = []
    for record in records:
        title = record.title or default_title
        start, end = _trimmed(record.text, 0, len(record.text))
        if end <= start:
            continue
        if end - start <= max_chars:
            drafts.append(_Draft(record.record_id, start, end, title, record.text[start:end]))
        else:
            drafts.extend(
                _split_plain(record.text, title=title, record_id=record.record_id, max_chars=max_chars)
            )
    return drafts


def _dedupe(records: Iterator[_Record], source: str, warnings: list[str]) -> Iterator[_Record]:
    seen: set[str] = set()
    for record in records:
        if record.record_id in seen:
            warnings.append(f"{source}: duplicate record id {record.record_id!r}; kept the first")
            continue
        seen.add(record.record_id)
        yield record


def _jsonl_records(text: str, source: str, warnings: list[str]) -> list[_Record]:
    def parse() -> Iterator[_Record]:
        for number, line in enumerate(text.split("\n"), start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                warnings.append(f"{source}:{number}: not valid JSON ({exc.msg}); line skipped")
                continue
            if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
                warnings.append(f'{source}:{number}: expected an object with a string "text"; line skipped')
                continue
            raw_id = obj.get("id")
            record_id = str(raw_id) if isinstance(raw_id, str | int) and str(raw_id) else str(number)
            title = obj.get("title")
            yield _Record(record_id, obj["text"], title if isinstance(title, str) else None)

    return list(_dedupe(parse(), source, warnings))


def _pick(header: Sequence[str], names: Sequence[str], *, exclude: set[str]) -> str | None:
    lowered = {h.strip().lower(): h for h in header if h not in exclude}
    for name in names:
        if name in lowered:
            return lowered[name]
    return None


def detect_csv_columns(
    header: Sequence[str], rows: Sequence[dict[str, str]], *, text_column: str | None = None
) -> tuple[str, str | None, str | None]:
    """Choose the (text, title, id) columns of a CSV file.

    Text: ``text_column`` if given; else the first header named (case-insensitively) one of
    text, content, body, passage, answer, description, document, chunk; else the column with
    the longest mean value. Title: title, heading, question, name, subject or topic. Id: id,
    doc_id, passage_id, record_id or key. Title and id are optional (row number as id).
    """
    if not header:
        raise KnowledgeBaseError("the CSV file has no header row")
    if text_column is not None:
        if text_column not in header:
            raise KnowledgeBaseError(f"no column {text_column!r}; columns are {', '.join(header)}")
        chosen = text_column
    else:
        picked = _pick(header, _TEXT_COLUMNS, exclude=set())
        if picked is None:
            # No conventional name: the column with the most prose is the one to search.
            picked = max(header, key=lambda h: sum(len(r.get(h) or "") for r in rows))
        chosen = picked
    title = _pick(header, _TITLE_COLUMNS, exclude={chosen})
    record_id = _pick(header, _ID_COLUMNS, exclude={chosen} | ({title} if title else set()))
    return chosen, title, record_id


def _csv_records(
    text: str, source: str, warnings: list[str], *, text_column: str | None, tab: bool
) -> list[_Record]:
    if not text.strip():
        return []
    if tab:
        delimiter = "\t"
    else:
        try:
            delimiter = csv.Sniffer().sniff(text[:4096], delimiters=",;\t|").delimiter
        except csv.Error:
            delimiter = ","
    reader = csv.DictReader(io.StringIO(text), delimiter=delimiter)
    try:
        rows = list(reader)
    except csv.Error as exc:
        raise KnowledgeBaseError(f"{source}: not a readable CSV file ({exc})") from exc
    header = list(reader.fieldnames or [])
    try:
        text_key, title_key, id_key = detect_csv_columns(header, rows, text_column=text_column)
    except KnowledgeBaseError as exc:
        raise KnowledgeBaseError(f"{source}: {exc}") from exc

    def parse() -> Iterator[_Record]:
        # Row numbers count the header as row 1, as a spreadsheet shows them.
        for number, row in enumerate(rows, start=2):
            body = row.get(text_key) or ""
            if not body.strip():
                continue
            raw_id = (row.get(id_key) or "").strip() if id_key else ""
            title = (row.get(title_key) or "").strip() if title_key else ""
            yield _Record(raw_id or str(number), body.replace("\r\n", "\n"), title or None)

    return list(_dedupe(parse(), source, warnings))
