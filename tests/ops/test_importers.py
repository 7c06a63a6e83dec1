"""Clause uploads: Markdown, TXT, DOCX and PDF become indexable clause Markdown with a chunk preview."""
from __future__ import annotations

import io

import pytest
from fastapi.testclient import TestClient

from ops.importers import ImportErrorZh, extract_text, preview, to_clause_markdown
from web.auth import SESSION_COOKIE
from web.main import create_app

from .conftest import add_users

LINES = ["手机碎屏险条款", "第一部分 保险责任", "第一条 被保险手机在保险期间内因意外导致屏幕碎裂的，",
         "保险人负责维修或换屏。", "第二条 本合同保险期间内限赔1次。", "二、责任免除",
         "第三条 下列情形不赔：", "（一）故意损坏；", "（二）进水。", "等待期", "第四条 自合同生效之日起3日为等待期。"]


def _pdf(lines: list[str]) -> bytes:
    """A real PDF whose text is Chinese: a Type0/Identity-H font with a ToUnicode map (no font embedded)."""
    chars = sorted({c for line in lines for c in line})
    cid = {c: n + 1 for n, c in enumerate(chars)}
    content = "BT /F1 12 Tf 14 TL 40 800 Td\n" + "\n".join(
        "<" + "".join(f"{cid[c]:04X}" for c in line) + "> Tj T*" for line in lines) + "\nET"
    cmap = ("/CIDInit /ProcSet findresource begin 12 dict begin begincmap /CMapName /X def "
            "1 begincodespacerange <0000> <FFFF> endcodespacerange\n"
            + "".join(f"{min(100, len(chars) - i)} beginbfchar\n" + "".join(
                f"<{cid[c]:04X}> <{ord(c):04X}>\n" for c in chars[i:i + 100]) + "endbfchar\n"
                for i in range(0, len(chars), 100))
            + "endcmap CMapName currentdict /CMap defineresource pop end end")
    objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 5 0 R >> >> /Contents 4 0 R >>",
        f"<< /Length {len(content.encode())} >>\nstream\n{content}\nendstream",
        "<< /Type /Font /Subtype /Type0 /BaseFont /STSong-Light /Encoding /Identity-H "
        "/DescendantFonts [6 0 R] /ToUnicode 7 0 R >>",
        "<< /Type /Font /Subtype /CIDFontType2 /BaseFont /STSong-Light "
        "/CIDSystemInfo << /Registry (Adobe) /Ordering (Identity) /Supplement 0 >> /DW 1000 >>",
        f"<< /Length {len(cmap.encode())} >>\nstream\n{cmap}\nendstream",
    ]
    out, offsets = io.BytesIO(), []
    out.write(b"%PDF-1.4\n")
    for n, obj in enumerate(objects, 1):
        offsets.append(out.tell())
        out.write(f"{n} 0 obj\n{obj}\nendobj\n".encode())
    xref = out.tell()
    out.write(f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode())
    out.write("".join(f"{o:010d} 00000 n \n" for o in offsets).encode())
    out.write(f"trailer << /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode())
    return out.getvalue()


def _docx(lines: list[str]) -> bytes:
    docx = pytest.importorskip("docx")
    document = docx.Document()
    document.add_heading(lines[0], level=1)
    for line in lines[1:]:
        (document.add_heading(line, level=2) if len(line) < 10 and "条" not in line else document.add_paragraph(line))
    buf = io.BytesIO()
    document.save(buf)
    return buf.getvalue()


def _check(markdown: str) -> dict:
    p = preview(markdown)
    assert p["ok"], p
    assert p["product_id"] == "screen" and [c["article"] for c in p["chunks"]] == ["第一条", "第二条", "第三条", "第四条"]
    assert [c["section"] for c in p["chunks"]] == ["coverage", "coverage", "exclusions", "waiting_period"]
    assert "保险期间内因意外导致屏幕碎裂的，保险人负责维修或换屏" in p["chunks"][0]["text"]  # broken line joined
    assert p["chunks"][2]["citation"] == "《手机碎屏险条款》第三条 责任免除"
    return p


@pytest.mark.parametrize("kind", ["txt", "txt-gbk", "docx", "pdf"])
def test_uploads_become_clause_markdown(kind):
    if kind == "txt":
        text = extract_text("x.txt", "\n".join(LINES).encode("utf-8"))
    elif kind == "txt-gbk":
        text = extract_text("x.TXT", "\n".join(LINES).encode("gb18030"))
    elif kind == "docx":
        text = extract_text("x.docx", _docx(LINES))
    else:
        pytest.importorskip("pypdf")
        text = extract_text("x.pdf", _pdf(LINES))
    markdown = to_clause_markdown(text, product_id="screen", title="手机碎屏险条款", version="2026.2")
    assert markdown.startswith("---\nproduct_id: screen\ntitle: 手机碎屏险条款\nversion: \"2026.2\"\n---")
    _check(markdown)


def test_markdown_with_front_matter_is_kept_and_errors_are_clear(settings):
    source = (settings.knowledge_dir / "clauses" / "screen.md").read_text(encoding="utf-8")
    assert to_clause_markdown(source, product_id="screen", title="x") == source
    broken = preview(source.replace("第二条", "第八条", 1))
    assert not broken["ok"] and "continuously" in broken["error"]
    with pytest.raises(ImportErrorZh, match="不支持"):
        extract_text("x.xlsx", b"PK")
    with pytest.raises(ImportErrorZh, match="DOCX"):
        extract_text("x.docx", b"not a zip")


def test_import_preview_save_via_api(settings, state):
    tokens = add_users(state)
    client = TestClient(create_app(settings, state=state))
    client.cookies.set(SESSION_COOKIE, tokens["editor"])
    resp = client.post("/api/kb/clauses/import", files={"file": ("条款.docx", _docx(LINES))},
                       data={"product_id": "screen", "title": "手机碎屏险条款", "version": "2026.2"})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    _check(body["source"])
    assert state.kb.draft_version_id() == state.kb.published_version_id()  # nothing saved by a preview
    assert client.put("/api/kb/clauses/typhoon", json={"source": body["source"]}).status_code == 422  # wrong product
    saved = client.put("/api/kb/clauses/screen", json={"source": body["source"]})
    assert saved.status_code == 200 and saved.json()["version"]["changes"] == ["clause/screen"]
    assert client.get("/api/kb/clauses/screen").json()["source"] == body["source"]
