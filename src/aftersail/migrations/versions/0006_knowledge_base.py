"""knowledge base: articles per language, with full-text search on SQLite (FTS5) and PostgreSQL (tsvector)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 09:00:00.000000

Written by hand: autogenerate knows the table, not its search. See docs/subsystems/knowledge-base.md.

- SQLite: an external-content FTS5 table `kb_articles_fts` over title, body and search_cjk (tokenizer
  unicode61, diacritics removed), kept in sync by three triggers.
- PostgreSQL: a text search configuration `aftersail_kb` (the 'simple' parser and dictionary, behind the
  `unaccent` dictionary when that extension can be created), a generated `search_vector` column (title
  weighted A, body B, search_cjk C) and a GIN index on it.

Chinese, Japanese and Korean: neither tokenizer splits them into words, so the service writes those runs as
character pairs into `search_cjk` (models: KbArticle) and searches them the same way.
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from alembic import op

import aftersail.kit.db
from aftersail.kit.rls import disable_rls, enable_rls

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")

TENANT_TABLES = ["kb_articles"]
SEARCH_CONFIG = "aftersail_kb"  # also named in assistant/knowledge.py

SQLITE_FTS = (
    "CREATE VIRTUAL TABLE kb_articles_fts USING fts5("
    "title, body, search_cjk, content='kb_articles', content_rowid='id', "
    "tokenize='unicode61 remove_diacritics 2')"
)
SQLITE_TRIGGERS = (
    """CREATE TRIGGER kb_articles_fts_insert AFTER INSERT ON kb_articles BEGIN
  INSERT INTO kb_articles_fts (rowid, title, body, search_cjk)
  VALUES (new.id, new.title, new.body, new.search_cjk);
END""",
    """CREATE TRIGGER kb_articles_fts_delete AFTER DELETE ON kb_articles BEGIN
  INSERT INTO kb_articles_fts (kb_articles_fts, rowid, title, body, search_cjk)
  VALUES ('delete', old.id, old.title, old.body, old.search_cjk);
END""",
    """CREATE TRIGGER kb_articles_fts_update AFTER UPDATE OF title, body, search_cjk ON kb_articles BEGIN
  INSERT INTO kb_articles_fts (kb_articles_fts, rowid, title, body, search_cjk)
  VALUES ('delete', old.id, old.title, old.body, old.search_cjk);
  INSERT INTO kb_articles_fts (rowid, title, body, search_cjk)
  VALUES (new.id, new.title, new.body, new.search_cjk);
END""",
)
POSTGRES_VECTOR = f"""ALTER TABLE kb_articles ADD COLUMN search_vector tsvector GENERATED ALWAYS AS (
  setweight(to_tsvector('{SEARCH_CONFIG}'::regconfig, title), 'A')
  || setweight(to_tsvector('{SEARCH_CONFIG}'::regconfig, body), 'B')
  || setweight(to_tsvector('{SEARCH_CONFIG}'::regconfig, search_cjk), 'C')
) STORED"""


def upgrade() -> None:
    op.create_table(
        "kb_articles",
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("topic", sa.String(length=40), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("url", sa.String(length=500), nullable=False),
        sa.Column("published", sa.Boolean(), nullable=False),
        sa.Column("search_cjk", sa.Text(), nullable=False),
        sa.Column("created_at", aftersail.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", aftersail.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_by_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("tenant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_kb_articles_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["updated_by_id"],
            ["users.id"],
            name=op.f("fk_kb_articles_updated_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kb_articles")),
    )
    op.create_index("ix_kb_articles_tenant_language", "kb_articles", ["tenant_id", "language", "topic"])
    op.create_index("ix_kb_articles_tenant_updated", "kb_articles", ["tenant_id", "updated_at"])
    if op.get_bind().dialect.name == "postgresql":
        _postgres_search()
    else:
        op.execute(SQLITE_FTS)
        for trigger in SQLITE_TRIGGERS:
            op.execute(trigger)
    enable_rls(TENANT_TABLES)


def _postgres_search() -> None:
    connection = op.get_bind()
    accents = _create_unaccent(connection)
    op.execute(f"CREATE TEXT SEARCH CONFIGURATION {SEARCH_CONFIG} (COPY = pg_catalog.simple)")
    if accents:
        # Words with letters beyond ASCII lose their accents before they are lowercased ('Zölle' → 'zolle').
        op.execute(
            f"ALTER TEXT SEARCH CONFIGURATION {SEARCH_CONFIG} "
            "ALTER MAPPING FOR word, hword, hword_part WITH unaccent, simple"
        )
    op.execute(POSTGRES_VECTOR)
    op.execute("CREATE INDEX ix_kb_articles_search ON kb_articles USING gin (search_vector)")


def _create_unaccent(connection: sa.Connection) -> bool:
    """Whether the `unaccent` dictionary is there, creating its extension when this role may (it is a
    trusted extension since PostgreSQL 13: a database owner may). Without it search is accent-sensitive."""
    available = connection.exec_driver_sql(
        "SELECT installed_version IS NOT NULL FROM pg_available_extensions WHERE name = 'unaccent'"
    ).scalar()
    if available is None:
        log.warning("the unaccent extension is not installed on this server; search will be accent-sensitive")
        return False
    if available:
        return True
    try:
        with connection.begin_nested():
            connection.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS unaccent")
    except sa.exc.DBAPIError as error:
        log.warning("could not create the unaccent extension (%s); search will be accent-sensitive", error)
        return False
    return True


def downgrade() -> None:
    disable_rls(TENANT_TABLES)
    if op.get_bind().dialect.name == "postgresql":
        op.drop_table("kb_articles")  # with its search_vector column and index
        op.execute(f"DROP TEXT SEARCH CONFIGURATION IF EXISTS {SEARCH_CONFIG}")
        # The unaccent extension stays: it belongs to the database, and others may use it.
    else:
        for trigger in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER IF EXISTS kb_articles_fts_{trigger}")
        op.execute("DROP TABLE IF EXISTS kb_articles_fts")
        op.drop_table("kb_articles")
