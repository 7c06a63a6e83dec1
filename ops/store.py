"""The knowledge base in the database: a linear history of versions, a draft head and a published one.

Every save makes a new version (who, when, what changed), so nothing is ever overwritten; the draft
head is what editors see and test, the published version is what users get. Publishing moves the
published pointer to the draft head after validation; rolling back makes a new version with an old
version's content and publishes it (history stays linear and append-only). Every change writes its
audit record in the same transaction.
"""
from __future__ import annotations

import difflib
import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Optional

from sqlalchemy import insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError, OperationalError

from knowledge.corpus import KnowledgeSnapshot
from ops import audit
from ops.audit import SYSTEM, Actor
from ops.documents import DocumentError, rate_texts_of, seed_documents, snapshot_of, validate_documents
from ops.tables import kb_blobs, kb_meta, kb_pointers, kb_versions

DRAFT, PUBLISHED = "draft", "published"
_RETRIES = 8


class ConflictError(RuntimeError):
    """Someone else changed the same document since it was loaded; reload and edit again."""


class NotFound(LookupError):
    pass


@dataclass(frozen=True)
class VersionInfo:
    id: int
    parent_id: Optional[int]
    created_by: str
    created_at: float
    summary: str
    changes: tuple[str, ...]
    published_at: Optional[float]
    published_by: Optional[str]
    is_published: bool = False
    is_draft_head: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "parent_id": self.parent_id, "created_by": self.created_by,
                "created_at": self.created_at, "summary": self.summary, "changes": list(self.changes),
                "published_at": self.published_at, "published_by": self.published_by,
                "is_published": self.is_published, "is_draft_head": self.is_draft_head}


@dataclass(frozen=True)
class DocDiff:
    key: str
    status: str            # added | removed | changed
    lines: tuple[str, ...] = field(default_factory=tuple)  # unified diff

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "status": self.status, "diff": list(self.lines)}


def blob_hash(body: str) -> str:
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


class KbStore:
    """Versions of the knowledge base in one database (SQLite or PostgreSQL), shared by every process."""

    def __init__(self, engine: Engine, content_dir: Path) -> None:
        self.engine = engine
        self.content_dir = Path(content_dir)
        self._manifests: dict[int, dict[str, str]] = {}   # versions are immutable: cache freely
        self._blobs: dict[str, str] = {}

    # ---- reading -----------------------------------------------------------------------------
    def pointer(self, name: str) -> Optional[int]:
        with self.engine.connect() as conn:
            row = conn.execute(select(kb_pointers.c.version_id).where(kb_pointers.c.name == name)).first()
        return int(row.version_id) if row else None

    def published_version_id(self) -> Optional[int]:
        return self.pointer(PUBLISHED)

    def draft_version_id(self) -> Optional[int]:
        return self.pointer(DRAFT)

    def manifest(self, version_id: int, conn: Optional[Connection] = None) -> dict[str, str]:
        cached = self._manifests.get(version_id)
        if cached is None:
            if conn is None:
                with self.engine.connect() as own:
                    row = own.execute(select(kb_versions.c.manifest).where(kb_versions.c.id == version_id)).first()
            else:
                row = conn.execute(select(kb_versions.c.manifest).where(kb_versions.c.id == version_id)).first()
            if row is None:
                raise NotFound(f"版本 {version_id} 不存在")
            cached = self._manifests[version_id] = json.loads(row.manifest)
        return dict(cached)

    def _bodies(self, hashes: Iterable[str]) -> dict[str, str]:
        missing = [h for h in set(hashes) if h not in self._blobs]
        if missing:
            with self.engine.connect() as conn:
                for start in range(0, len(missing), 500):
                    chunk = missing[start:start + 500]
                    for row in conn.execute(select(kb_blobs).where(kb_blobs.c.hash.in_(chunk))):
                        self._blobs[row.hash] = row.body
        return {h: self._blobs[h] for h in hashes}

    def documents(self, version_id: int, prefix: str = "") -> dict[str, str]:
        """{key: body} of one version, in manifest order (optionally only keys starting with `prefix`)."""
        manifest = {k: h for k, h in self.manifest(version_id).items() if k.startswith(prefix)}
        bodies = self._bodies(manifest.values())
        return {k: bodies[h] for k, h in manifest.items()}

    def document(self, version_id: int, key: str) -> Optional[str]:
        h = self.manifest(version_id).get(key)
        return None if h is None else self._bodies([h])[h]

    def snapshot(self, version_id: int) -> KnowledgeSnapshot:
        return snapshot_of(self.documents(version_id))

    def published_snapshot(self) -> KnowledgeSnapshot:
        return self.snapshot(self.ensure_seeded())

    def rate_texts(self, version_id: int) -> dict[str, str]:
        return rate_texts_of(self.documents(version_id, "rates/"))

    def version(self, version_id: int) -> VersionInfo:
        with self.engine.connect() as conn:
            row = conn.execute(select(kb_versions).where(kb_versions.c.id == version_id)).first()
            pointers = self._pointers(conn)
        if row is None:
            raise NotFound(f"版本 {version_id} 不存在")
        return self._info(row, pointers)

    def versions(self, limit: int = 100, offset: int = 0) -> list[VersionInfo]:
        with self.engine.connect() as conn:
            pointers = self._pointers(conn)
            rows = conn.execute(select(kb_versions.c.id, kb_versions.c.parent_id, kb_versions.c.created_by,
                                       kb_versions.c.created_at, kb_versions.c.summary, kb_versions.c.changes,
                                       kb_versions.c.published_at, kb_versions.c.published_by)
                                .order_by(kb_versions.c.id.desc()).limit(limit).offset(offset)).all()
        return [self._info(r, pointers) for r in rows]

    @staticmethod
    def _pointers(conn: Connection) -> dict[str, int]:
        return {r.name: r.version_id for r in conn.execute(select(kb_pointers.c.name, kb_pointers.c.version_id))}

    @staticmethod
    def _info(row, pointers: Mapping[str, int]) -> VersionInfo:
        return VersionInfo(row.id, row.parent_id, row.created_by, row.created_at, row.summary,
                           tuple(json.loads(row.changes or "[]")), row.published_at, row.published_by,
                           pointers.get(PUBLISHED) == row.id, pointers.get(DRAFT) == row.id)

    def diff(self, a: int, b: int, context: int = 2) -> list[DocDiff]:
        """What changed from version `a` to version `b`, document by document (unified diffs)."""
        ma, mb = self.manifest(a), self.manifest(b)
        out: list[DocDiff] = []
        keys = list(dict.fromkeys(list(ma) + list(mb)))
        bodies = self._bodies([h for h in list(ma.values()) + list(mb.values())])
        for key in keys:
            ha, hb = ma.get(key), mb.get(key)
            if ha == hb:
                continue
            old = _readable(key, bodies[ha]) if ha else []
            new = _readable(key, bodies[hb]) if hb else []
            status = "added" if ha is None else "removed" if hb is None else "changed"
            lines = tuple(difflib.unified_diff(old, new, f"v{a}/{key}", f"v{b}/{key}", n=context, lineterm=""))
            out.append(DocDiff(key, status, lines))
        return out

    # ---- writing ----------------------------------------------------------------------------
    def ensure_seeded(self, actor: Actor = SYSTEM) -> int:
        """The published version id; on a fresh database, import the seed files as version 1 (published)."""
        published = self.published_version_id()
        if published is not None:
            return published
        docs = seed_documents(self.content_dir)
        try:
            with self.engine.begin() as conn:
                if self._pointers(conn).get(PUBLISHED) is not None:
                    return self._pointers(conn)[PUBLISHED]
                manifest = self._put_blobs(conn, docs)
                now = time.time()
                vid = self._insert_version(conn, None, manifest, actor, "从 knowledge/content 导入初始知识库",
                                           list(manifest), now, published=True)
                conn.execute(insert(kb_pointers).values(name=DRAFT, version_id=vid, updated_at=now,
                                                        updated_by=actor.username))
                conn.execute(insert(kb_pointers).values(name=PUBLISHED, version_id=vid, updated_at=now,
                                                        updated_by=actor.username))
                conn.execute(insert(kb_meta).values(key="seed_manifest", value=json.dumps(manifest)))
                audit.append(conn, actor, "kb.seed", f"v{vid}", {"documents": len(manifest)})
                return vid
        except (IntegrityError, OperationalError):
            # another process seeded at the same moment: use theirs
            published = self.published_version_id()
            if published is None:
                raise
            return published

    def save(self, changes: Mapping[str, Optional[str]], actor: Actor, summary: str, *,
             expect: Optional[Mapping[str, Optional[str]]] = None, action: str = "kb.edit",
             audit_detail: Optional[dict] = None) -> VersionInfo:
        """Apply {key: new body, or None to delete} on top of the draft head as a new draft version.

        `expect` maps keys to the blob hash the editor loaded (None: must not exist yet); when the
        draft moved on under them, ConflictError (nothing is saved).
        """
        self.ensure_seeded()
        for attempt in range(_RETRIES):
            try:
                with self.engine.begin() as conn:
                    head = self._lock_draft(conn)
                    manifest = self.manifest(head, conn)
                    for key, want in (expect or {}).items():
                        if manifest.get(key) != want:
                            raise ConflictError(f"“{key}”已被其他人修改或删除，请刷新后再编辑")
                    new_manifest = dict(manifest)
                    for key, body in changes.items():
                        if body is None:
                            if key not in new_manifest:
                                raise NotFound(f"“{key}”不存在")
                            del new_manifest[key]
                    additions = {k: b for k, b in changes.items() if b is not None}
                    new_manifest.update(self._put_blobs(conn, additions))
                    changed = [k for k in changes if manifest.get(k) != new_manifest.get(k)]
                    if not changed:
                        return self._info(conn.execute(select(kb_versions).where(kb_versions.c.id == head)).one(),
                                          self._pointers(conn))
                    now = time.time()
                    vid = self._insert_version(conn, head, new_manifest, actor, summary, changed, now)
                    conn.execute(update(kb_pointers).where(kb_pointers.c.name == DRAFT)
                                 .values(version_id=vid, updated_at=now, updated_by=actor.username))
                    audit.append(conn, actor, action, ",".join(changed)[:200],
                                 {"version": vid, "summary": summary, **(audit_detail or {})})
                    info = self._info(conn.execute(select(kb_versions).where(kb_versions.c.id == vid)).one(),
                                      self._pointers(conn))
                return info
            except OperationalError:
                if attempt == _RETRIES - 1:
                    raise
                time.sleep(0.05 * (attempt + 1))
        raise AssertionError("unreachable")

    def publish(self, actor: Actor, version_id: Optional[int] = None, *, note: str = "") -> VersionInfo:
        """Make the draft head (or `version_id`) the published version; raises DocumentError if invalid."""
        self.ensure_seeded()
        target = version_id if version_id is not None else self.draft_version_id()
        problems = validate_documents(self.documents(target), self.content_dir)
        if problems:
            raise DocumentError(problems)
        with self.engine.begin() as conn:
            self._lock_draft(conn)
            previous = self._pointers(conn).get(PUBLISHED)
            now = time.time()
            conn.execute(update(kb_pointers).where(kb_pointers.c.name == PUBLISHED)
                         .values(version_id=target, updated_at=now, updated_by=actor.username))
            conn.execute(update(kb_versions).where(kb_versions.c.id == target, kb_versions.c.published_at.is_(None))
                         .values(published_at=now, published_by=actor.username))
            audit.append(conn, actor, "kb.publish", f"v{target}", {"previous": previous, "note": note})
            return self._info(conn.execute(select(kb_versions).where(kb_versions.c.id == target)).one(),
                              self._pointers(conn))

    def publish_edit(self, key: str, edit: Callable[[str], str], actor: Actor, summary: str, *, action: str,
                     audit_detail: Optional[dict] = None,
                     within: Optional[Callable[[Connection, int], None]] = None) -> tuple[VersionInfo, bool]:
        """Edit one existing document of the *published* version and publish that edit alone, at once.

        `edit` maps a body to its new body (it validates, raising DocumentError). The new published
        version is the published one with `key` edited; editors' other unpublished draft changes stay
        unpublished: the draft gets the same edit on top of them (applied to the draft's own body of
        `key`, if the draft still has it). `within(conn, published_id)` runs in the same transaction (to
        mark the source rows; raising rolls everything back). Returns (the published version, whether it is new).
        """
        self.ensure_seeded()
        for attempt in range(_RETRIES):
            with self.engine.connect() as conn:
                pointers = self._pointers(conn)
            published, head = pointers[PUBLISHED], pointers[DRAFT]
            pub, draft = self.manifest(published), self.manifest(head)
            if key not in pub:
                raise NotFound(f"“{key}”不在已发布的版本中")
            new_pub_body = edit(self._bodies([pub[key]])[pub[key]])
            new_draft_body = edit(self._bodies([draft[key]])[draft[key]]) if key in draft else None
            try:
                with self.engine.begin() as conn:
                    if self._lock_draft(conn) != head or self._pointers(conn).get(PUBLISHED) != published:
                        continue  # someone saved or published meanwhile: recompute on the new heads
                    new_pub = {**pub, **self._put_blobs(conn, {key: new_pub_body})}
                    new_draft = dict(draft)
                    if new_draft_body is not None:
                        new_draft.update(self._put_blobs(conn, {key: new_draft_body}))
                    now = time.time()
                    target, created = published, False
                    if new_pub != pub:
                        target = self._insert_version(conn, head, new_pub, actor, summary, [key], now, published=True)
                        created = True
                    if created:  # the editors' unpublished changes (if any) stay on top of the new version
                        draft_head = target if new_draft == new_pub else self._insert_version(
                            conn, target, new_draft, actor, "保留草稿中未发布的修改",
                            [k for k in dict.fromkeys(list(new_draft) + list(new_pub)) if new_draft.get(k) != new_pub.get(k)],
                            now)
                    else:  # already live as asked: only the draft may still need the edit
                        draft_head = head if new_draft == draft else self._insert_version(
                            conn, head, new_draft, actor, summary, [key], now)
                    if created:
                        conn.execute(update(kb_pointers).where(kb_pointers.c.name == PUBLISHED)
                                     .values(version_id=target, updated_at=now, updated_by=actor.username))
                    if draft_head != head:
                        conn.execute(update(kb_pointers).where(kb_pointers.c.name == DRAFT)
                                     .values(version_id=draft_head, updated_at=now, updated_by=actor.username))
                    if within is not None:
                        within(conn, target)
                    audit.append(conn, actor, action, key[:200],
                                 {"version": target, "published": created, "draft": draft_head, "summary": summary,
                                  **(audit_detail or {})})
                    if created:
                        audit.append(conn, actor, "kb.publish", f"v{target}", {"previous": published, "note": summary})
                    info = self._info(conn.execute(select(kb_versions).where(kb_versions.c.id == target)).one(),
                                      self._pointers(conn))
                return info, created
            except OperationalError:
                if attempt == _RETRIES - 1:
                    raise
                time.sleep(0.05 * (attempt + 1))
        raise ConflictError("知识库正被频繁修改，请稍后重试")

    def rollback(self, to_version: int, actor: Actor) -> VersionInfo:
        """A new version with `to_version`'s content, published at once; the draft follows it."""
        self.ensure_seeded()
        old = self.manifest(to_version)
        problems = validate_documents(self.documents(to_version), self.content_dir)
        if problems:
            raise DocumentError(problems)
        with self.engine.begin() as conn:
            head = self._lock_draft(conn)
            previous = self._pointers(conn).get(PUBLISHED)
            current = self.manifest(head, conn)
            changed = [k for k in dict.fromkeys(list(current) + list(old)) if current.get(k) != old.get(k)]
            now = time.time()
            vid = self._insert_version(conn, head, old, actor, f"回滚到版本 {to_version}", changed, now, published=True)
            for name in (DRAFT, PUBLISHED):
                conn.execute(update(kb_pointers).where(kb_pointers.c.name == name)
                             .values(version_id=vid, updated_at=now, updated_by=actor.username))
            audit.append(conn, actor, "kb.rollback", f"v{to_version}",
                         {"new_version": vid, "previous_published": previous, "discarded_draft": head})
            return self._info(conn.execute(select(kb_versions).where(kb_versions.c.id == vid)).one(),
                              self._pointers(conn))

    def import_seed_changes(self, actor: Actor = SYSTEM) -> Optional[VersionInfo]:
        """Seed files changed since they were last imported (a deploy or a developer edited knowledge/content):
        apply exactly those documents on top of the published version and publish that; unpublished
        draft edits are kept on top. Documents ops edited but the files did not change stay as ops left
        them. Invalid files are not imported (logged; retried at the next start). Called once at start-up."""
        import logging

        self.ensure_seeded(actor)
        docs = seed_documents(self.content_dir)
        files = {k: blob_hash(b) for k, b in docs.items()}
        with self.engine.connect() as conn:
            row = conn.execute(select(kb_meta.c.value).where(kb_meta.c.key == "seed_manifest")).first()
        if row is None:  # a database seeded before this tracking: it is authoritative, start tracking now
            with self.engine.begin() as conn:
                self._set_meta(conn, files)
            return None
        last = json.loads(row.value)
        changed = [k for k in files if last.get(k) != files[k]]
        removed = [k for k in last if k not in files]
        if not changed and not removed:
            return None
        published = self.published_version_id()
        candidate = {**self.documents(published), **{k: docs[k] for k in changed}}
        for k in removed:
            candidate.pop(k, None)
        problems = validate_documents(candidate, self.content_dir)
        if problems:
            logging.getLogger(__name__).error("seed files not imported: they do not validate",
                                              extra={"event": "kb.seed_invalid", "problems": problems[:5]})
            return None
        with self.engine.begin() as conn:
            head = self._lock_draft(conn)
            pointers = self._pointers(conn)
            if pointers[PUBLISHED] != published:
                return None  # published meanwhile by someone else: the next start retries
            pub, draft = self.manifest(published, conn), self.manifest(head, conn)
            new_pub = {k: h for k, h in pub.items() if k not in removed}
            new_pub.update(self._put_blobs(conn, {k: docs[k] for k in changed}))
            if new_pub == pub:
                self._set_meta(conn, files)
                return None
            now = time.time()
            touched = [k for k in dict.fromkeys(list(pub) + list(new_pub)) if pub.get(k) != new_pub.get(k)]
            vid = self._insert_version(conn, head, new_pub, actor, f"knowledge/content 文件已更新：导入 {len(touched)} 个文档",
                                       touched, now, published=True)
            draft_head = vid
            delta = {k: draft.get(k) for k in dict.fromkeys(list(draft) + list(pub)) if draft.get(k) != pub.get(k)}
            if delta:  # the editors' unpublished changes, re-applied on top
                new_draft = dict(new_pub)
                for k, h in delta.items():
                    if h is None:
                        new_draft.pop(k, None)
                    else:
                        new_draft[k] = h
                draft_head = self._insert_version(conn, vid, new_draft, actor, "保留草稿中未发布的修改", list(delta), now)
            conn.execute(update(kb_pointers).where(kb_pointers.c.name == PUBLISHED)
                         .values(version_id=vid, updated_at=now, updated_by=actor.username))
            conn.execute(update(kb_pointers).where(kb_pointers.c.name == DRAFT)
                         .values(version_id=draft_head, updated_at=now, updated_by=actor.username))
            self._set_meta(conn, files)
            audit.append(conn, actor, "kb.seed_update", f"v{vid}", {"documents": touched[:100], "draft": draft_head})
            return self._info(conn.execute(select(kb_versions).where(kb_versions.c.id == vid)).one(), self._pointers(conn))

    @staticmethod
    def _set_meta(conn: Connection, files: Mapping[str, str]) -> None:
        value = json.dumps(dict(files))
        if conn.execute(update(kb_meta).where(kb_meta.c.key == "seed_manifest").values(value=value)).rowcount == 0:
            conn.execute(insert(kb_meta).values(key="seed_manifest", value=value))

    # ---- internals ---------------------------------------------------------------------------
    @staticmethod
    def _lock_draft(conn: Connection) -> int:
        """Serialise writers: a no-op UPDATE takes the draft row's lock (PostgreSQL) / the write lock (SQLite)."""
        conn.execute(update(kb_pointers).where(kb_pointers.c.name == DRAFT)
                     .values(updated_at=kb_pointers.c.updated_at))
        row = conn.execute(select(kb_pointers.c.version_id).where(kb_pointers.c.name == DRAFT)).first()
        if row is None:
            raise NotFound("知识库尚未初始化")
        return int(row.version_id)

    def _put_blobs(self, conn: Connection, docs: Mapping[str, str]) -> dict[str, str]:
        manifest: dict[str, str] = {}
        rows = []
        for key, body in docs.items():
            h = blob_hash(body)
            manifest[key] = h
            if h not in self._blobs:
                rows.append({"hash": h, "body": body})
        if rows:
            rows = list({r["hash"]: r for r in rows}.values())
            ins = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
            for start in range(0, len(rows), 200):
                conn.execute(ins(kb_blobs).on_conflict_do_nothing(), rows[start:start + 200])
        return manifest

    def _insert_version(self, conn: Connection, parent: Optional[int], manifest: Mapping[str, str], actor: Actor,
                        summary: str, changed: list[str], now: float, *, published: bool = False) -> int:
        result = conn.execute(insert(kb_versions).values(
            parent_id=parent, manifest=json.dumps(manifest), created_by=actor.username, created_at=now,
            summary=summary[:500], changes=json.dumps(changed[:500], ensure_ascii=False),
            published_at=now if published else None, published_by=actor.username if published else None))
        return int(result.inserted_primary_key[0])


def _readable(key: str, body: str) -> list[str]:
    """Documents as lines a person can diff (FAQ JSON as labelled fields)."""
    if key.startswith("faq/"):
        try:
            faq = json.loads(body)
        except ValueError:
            return body.splitlines()
        lines = [f"标准问: {faq.get('question', '')}", f"产品: {', '.join(faq.get('products') or [])}",
                 f"答案: {faq.get('answer', '')}"]
        return lines + [f"相似问: {s}" for s in faq.get("similar") or []]
    if key == "clause_questions":
        try:
            data = json.loads(body)
        except ValueError:
            return body.splitlines()
        return [f"{section}: {q}" for section, qs in data.items() for q in qs]
    return body.splitlines()
