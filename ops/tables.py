"""Tables of the ops console on the shared `storage.db.metadata` (created by `create_all`).

Documents are content-addressed (`kb_blobs`); a version is a manifest {document key: blob hash}, so
an edit of one FAQ stores one new blob and a small manifest, and any version can be rebuilt or diffed.
`kb_pointers` names the draft head and the published version. `kb_audit` is append-only (database
triggers refuse UPDATE and DELETE) and hash-chained through `kb_audit_head`. `kb_unanswered` holds the
misses the action server reports, `kb_clarifications` the option a user picked after a clarification.
"""
from __future__ import annotations

from sqlalchemy import DDL, Column, Float, Index, Integer, String, Table, Text, event

from storage.db import metadata

kb_blobs = Table(
    "kb_blobs", metadata,
    Column("hash", String(64), primary_key=True),
    Column("body", Text, nullable=False),
)

kb_versions = Table(
    "kb_versions", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("parent_id", Integer, nullable=True),
    Column("manifest", Text, nullable=False),          # JSON object, ordered: {"faq/<id>": hash, ...}
    Column("created_by", String(64), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("summary", String(500), nullable=False, default=""),
    Column("changes", Text, nullable=False, default="[]"),  # JSON list of changed document keys
    Column("published_at", Float, nullable=True),       # first time this version went live
    Column("published_by", String(64), nullable=True),
)

kb_pointers = Table(
    "kb_pointers", metadata,
    Column("name", String(16), primary_key=True),       # "draft" | "published"
    Column("version_id", Integer, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("updated_by", String(64), nullable=False, default=""),
)

kb_meta = Table(
    "kb_meta", metadata,
    Column("key", String(64), primary_key=True),         # "seed_manifest": the seed files as last imported
    Column("value", Text, nullable=False),
)

kb_audit = Table(
    "kb_audit", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("seq", Integer, nullable=False, unique=True),
    Column("at", Float, nullable=False),
    Column("actor", String(64), nullable=False),
    Column("role", String(16), nullable=False),
    Column("action", String(64), nullable=False),
    Column("target", String(200), nullable=False, default=""),
    Column("detail", Text, nullable=False, default="{}"),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
)

kb_audit_head = Table(
    "kb_audit_head", metadata,
    Column("id", Integer, primary_key=True),            # always 1; its row lock serialises appends
    Column("seq", Integer, nullable=False),
    Column("last_hash", String(64), nullable=False),
)

kb_unanswered = Table(
    "kb_unanswered", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("created_at", Float, nullable=False),
    Column("question", String(500), nullable=False),    # masked before it is stored
    Column("sender_hash", String(16), nullable=False, default=""),
    Column("channel", String(32), nullable=False, default=""),
    Column("reason", String(32), nullable=False, default=""),
    Column("top_id", String(120), nullable=True),
    Column("confidence", Float, nullable=True),
    Column("status", String(16), nullable=False, default="open"),  # open | attached | new_faq | dismissed
    Column("faq_id", String(120), nullable=True),
    Column("resolved_by", String(64), nullable=True),
    Column("resolved_at", Float, nullable=True),
)
Index("ix_kb_unanswered_status_time", kb_unanswered.c.status, kb_unanswered.c.created_at)

kb_clarifications = Table(
    "kb_clarifications", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("created_at", Float, nullable=False),
    Column("question", String(500), nullable=False),    # redacted before it is stored (like kb_unanswered)
    Column("chosen_id", String(120), nullable=False),    # the knowledge item the user picked (faq.* or clause.*)
    Column("options", Text, nullable=False, default="[]"),  # JSON list of the item ids offered, in order
    Column("sender_hash", String(16), nullable=False, default=""),  # ops.unanswered.sender_hash (same pseudonym)
    Column("channel", String(32), nullable=False, default=""),
    Column("status", String(16), nullable=False, default="open"),  # open | attached | dismissed
    Column("resolved_by", String(64), nullable=True),
    Column("resolved_at", Float, nullable=True),
    Column("version_id", Integer, nullable=True),        # the published version that added it as a similar question
)
Index("ix_kb_clarifications_status_time", kb_clarifications.c.status, kb_clarifications.c.created_at)

_NO_CHANGE_SQLITE = ("CREATE TRIGGER IF NOT EXISTS kb_audit_no_{op} BEFORE {OP} ON kb_audit "
                     "BEGIN SELECT RAISE(ABORT, 'kb_audit is append-only'); END")
_PG_FUNCTION = ("CREATE OR REPLACE FUNCTION kb_audit_append_only() RETURNS trigger AS $$ "
                "BEGIN RAISE EXCEPTION 'kb_audit is append-only'; END; $$ LANGUAGE plpgsql")
_PG_TRIGGER = ("CREATE TRIGGER kb_audit_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON kb_audit "
               "FOR EACH STATEMENT EXECUTE FUNCTION kb_audit_append_only()")

for _op in ("update", "delete"):
    event.listen(kb_audit, "after_create",
                 DDL(_NO_CHANGE_SQLITE.format(op=_op, OP=_op.upper())).execute_if(dialect="sqlite"))
event.listen(kb_audit, "after_create", DDL(_PG_FUNCTION).execute_if(dialect="postgresql"))
event.listen(kb_audit, "after_create", DDL(_PG_TRIGGER).execute_if(dialect="postgresql"))
