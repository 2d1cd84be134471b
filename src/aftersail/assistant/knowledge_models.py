"""The tenant's knowledge base (知识库): articles per language that the assistant searches and cites in its
answers — product use, customs and duties per destination country, shipping, returns, payment.

Full-text search lives beside the table and is not described here (the models cannot say it): an FTS5
table `kb_articles_fts` kept in sync by triggers on SQLite, a generated `search_vector` column with a GIN
index on PostgreSQL (migration 0006, docs/subsystems/knowledge-base.md). A later SQLite migration that
rebuilds `kb_articles` (batch mode copies the table) drops those triggers and must create them again.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Boolean, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from aftersail.kit.clock import utcnow
from aftersail.kit.db import Base, BigId, IdMixin, TenantMixin


class KbTopic(StrEnum):
    USAGE = "usage"
    PRODUCT = "product"
    CUSTOMS = "customs"
    SHIPPING = "shipping"
    RETURNS = "returns"
    PAYMENT = "payment"
    OTHER = "other"


class KbArticle(IdMixin, TenantMixin, Base):
    """One article in one language. `country` narrows it to buyers in one destination ('' = anywhere):
    customs and duties differ per country, and the assistant prefers the buyer's country's article."""

    __tablename__ = "kb_articles"
    tenant_index = False  # every index below leads with tenant_id
    __table_args__ = (
        Index("ix_kb_articles_tenant_language", "tenant_id", "language", "topic"),
        Index("ix_kb_articles_tenant_updated", "tenant_id", "updated_at"),
    )

    language: Mapped[str] = mapped_column(String(8))  # one of intents.NLU_LANGUAGES
    topic: Mapped[str] = mapped_column(String(40), default=KbTopic.OTHER.value)  # a KbTopic value
    country: Mapped[str] = mapped_column(String(2), default="")  # ISO 3166-1 alpha-2, '' = any
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    url: Mapped[str] = mapped_column(String(500), default="")  # the public page, when there is one
    published: Mapped[bool] = mapped_column(Boolean, default=True)  # drafts are never searched for buyers
    # The Chinese, Japanese and Korean runs of title and body as character pairs and single characters,
    # space-separated (written by the service): the full-text indexes read this column because neither
    # SQLite's unicode61 tokenizer nor PostgreSQL's parser splits those scripts into words.
    search_cjk: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("users.id", ondelete="SET NULL"))
