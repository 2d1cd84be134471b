"""The migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Connection

from aftersail.kit.db import Database
from aftersail.kit.models import Base

# Full-text search of the knowledge base (migration 0006), which the models cannot describe: the FTS5 table
# and its shadow tables on SQLite, the generated tsvector column and its GIN index on PostgreSQL.
SEARCH_TABLES = re.compile(r"^kb_articles_fts(_\w+)?$")
SEARCH_COLUMNS = {("kb_articles", "search_vector")}
SEARCH_INDEXES = {"ix_kb_articles_search"}


def _is_search_object(change: Any) -> bool:
    if isinstance(change, list):  # column changes come as a list of one tuple
        return all(_is_search_object(part) for part in change)
    kind = change[0]
    if kind == "remove_table":
        return bool(SEARCH_TABLES.match(change[1].name))
    if kind == "remove_column":
        return (change[2], change[3].name) in SEARCH_COLUMNS
    if kind == "remove_index":
        return change[1].name in SEARCH_INDEXES
    return False


def _diff(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return [
        change
        for change in compare_metadata(context, Base.metadata)
        # Expression indexes cannot be reflected on every backend; the migration creates them explicitly.
        if not (
            isinstance(change, tuple)
            and change[0] in {"add_index", "remove_index"}
            and change[1].name == "uq_stock_levels_slot"
        )
        and not _is_search_object(change)
    ]


async def test_migrated_schema_matches_the_models(database: Database) -> None:
    async with database.engine.connect() as connection:
        differences = await connection.run_sync(_diff)
    assert differences == []
