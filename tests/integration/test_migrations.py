"""The migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Connection

from aftersail.kit.db import Database
from aftersail.kit.models import Base


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
    ]


async def test_migrated_schema_matches_the_models(database: Database) -> None:
    async with database.engine.connect() as connection:
        differences = await connection.run_sync(_diff)
    assert differences == []
