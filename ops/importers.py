"""Clause documents from uploads (Markdown, TXT, DOCX, PDF) into the indexed Markdown format.

Markdown that already has front matter is taken as is. Other files are turned into text, lines
naming a clause section (e.g. "第二部分 责任免除", "三、等待期") become `## 责任免除 {#exclusions}`
headings, lines broken mid-sentence (PDF) are joined, and front matter is added from the form.
`preview()` parses the result the way the index will, so ops see every chunk before saving.
"""
from __future__ import annotations

import io
import re
from typing import Any, Optional

from knowledge.clauses import FRONT_MATTER_RE, ClauseFormatError, parse_clause_document
from knowledge.vocabulary import SECTION_TITLES

MAX_UPLOAD_BYTES = 5 * 1024 * 1024
SUPPORTED = (".md", ".markdown", ".txt", ".docx", ".pdf")
_TITLE_TO_KEY = {title: key for key, title in SECTION_TITLES.items()}
_ALIASES = {"保险期间": "term_renewal", "续保": "term_renewal", "保险金申请": "claims", "理赔": "claims",
            "免赔额": "deductible", "责任免除条款": "exclusions", "除外责任": "exclusions", "名词释义": "definitions"}
_HEADING_PREFIX = re.compile(r"^(#+\s*)?((第[一二三四五六七八九十\d]+(部分|章|节))|([一二三四五六七八九十]+、)|(\d+[.、]))?\s*")
_ARTICLE = re.compile(r"^第[一二三四五六七八九十百零两\d]+条")


class ImportErrorZh(ValueError):
    """The upload cannot be read; the message is shown to ops as is."""


def extract_text(filename: str, data: bytes) -> str:
    """Plain text of an upload, by its extension."""
    if len(data) > MAX_UPLOAD_BYTES:
        raise ImportErrorZh(f"文件过大（上限 {MAX_UPLOAD_BYTES // 1024 // 1024} MB）")
    name = filename.lower()
    if name.endswith((".md", ".markdown", ".txt")):
        for encoding in ("utf-8-sig", "gb18030"):
            try:
                return data.decode(encoding)
            except UnicodeDecodeError:
                continue
        raise ImportErrorZh("无法识别文本编码（请用 UTF-8 或 GBK）")
    if name.endswith(".docx"):
        try:
            import docx
        except ImportError as exc:  # pragma: no cover - installed from requirements/app.in
            raise ImportErrorZh("服务器未安装 python-docx，无法读取 DOCX") from exc
        try:
            document = docx.Document(io.BytesIO(data))
        except Exception as exc:
            raise ImportErrorZh(f"DOCX 文件无法打开：{type(exc).__name__}") from exc
        return "\n".join(p.text for p in document.paragraphs)
    if name.endswith(".pdf"):
        try:
            from pypdf import PdfReader
        except ImportError as exc:  # pragma: no cover
            raise ImportErrorZh("服务器未安装 pypdf，无法读取 PDF") from exc
        try:
            reader = PdfReader(io.BytesIO(data))
            pages = [page.extract_text() or "" for page in reader.pages]
        except Exception as exc:
            raise ImportErrorZh(f"PDF 文件无法读取：{type(exc).__name__}") from exc
        text = "\n".join(pages)
        if not text.strip():
            raise ImportErrorZh("PDF 中没有可提取的文字（可能是扫描件），请上传文字版")
        return text
    raise ImportErrorZh(f"不支持的文件类型：{filename}（支持 {', '.join(SUPPORTED)}）")


def _section_key(line: str) -> Optional[str]:
    stripped = _HEADING_PREFIX.sub("", line.strip(), count=1).strip(" ：:#")
    stripped = re.sub(r"\s*\{#[a-z_]+\}$", "", stripped)
    if stripped in _TITLE_TO_KEY:
        return _TITLE_TO_KEY[stripped]
    return _ALIASES.get(stripped)


def to_clause_markdown(text: str, *, product_id: str, title: str, version: str = "1") -> str:
    """Front matter + section headings + one paragraph per article, from loosely formatted text."""
    text = text.replace("\r\n", "\n").replace("\u3000", " ").lstrip("\ufeff")
    if FRONT_MATTER_RE.match(text):
        return text
    out = ["---", f"product_id: {product_id}", f"title: {title}", f'version: "{version}"', "---", f"# {title}", ""]
    paragraph: list[str] = []

    def flush() -> None:
        if paragraph:
            out.append("".join(paragraph))
            out.append("")
            paragraph.clear()

    for raw in text.split("\n"):
        line = raw.strip()
        if not line:
            flush()
            continue
        if line.lstrip("# ").strip() == title:
            continue
        key = _section_key(line) if len(line) <= 30 else None
        if key:
            flush()
            out.append(f"## {SECTION_TITLES[key]} {{#{key}}}")
            out.append("")
        elif _ARTICLE.match(line) or re.match(r"^（[一二三四五六七八九十]+）", line):
            flush()
            paragraph.append(line)
        else:
            # a line broken mid-sentence (PDF, hard-wrapped TXT) continues the paragraph (no space in Chinese)
            paragraph.append(line)
    flush()
    return "\n".join(out).rstrip() + "\n"


def preview(markdown: str) -> dict[str, Any]:
    """What the index would make of a clause document: its chunks, or the reason it cannot be indexed."""
    try:
        doc = parse_clause_document(markdown, source="上传的条款")
    except ClauseFormatError as exc:
        return {"ok": False, "error": str(exc), "chunks": []}
    chunks = [{"article": a.article_label, "article_no": a.article_no, "section": a.section,
               "section_title": a.section_title, "section_id": a.section_id, "citation": a.citation,
               "chars": len(a.text), "text": a.text} for a in doc.articles]
    missing = [SECTION_TITLES[k] for k in SECTION_TITLES if k not in doc.sections()]
    return {"ok": True, "product_id": doc.product_id, "title": doc.title, "version": doc.version,
            "sections": doc.sections(), "missing_sections": missing, "chunks": chunks,
            "chars": sum(len(a.text) for a in doc.articles)}
