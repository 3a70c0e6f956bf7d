"""The judge's persistent cache: one row per (prompt version, model, canonical inputs).

Re-running a judge over the same inputs with the same prompt version and model
reads the stored output instead of calling the endpoint again, so re-scoring a
trace or re-running an eval suite costs nothing.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index, Text
from sqlmodel import Field, SQLModel

__all__ = ["JudgeCacheEntry"]


class JudgeCacheEntry(SQLModel, table=True):
    """A schema-valid judge output, keyed by the sha256 of prompt identity, model and inputs."""

    __tablename__ = "judge_cache_entry"
    __table_args__ = (Index("ix_judge_cache_entry_prompt", "prompt_name", "prompt_version"),)

    cache_key: str = Field(primary_key=True, max_length=64, description="sha256 hex of the canonical key")
    prompt_name: str = Field(max_length=256)
    prompt_version: str = Field(max_length=64)
    prompt_hash: str = Field(max_length=64)
    model: str = Field(max_length=256)
    output: str = Field(sa_column=Column(Text, nullable=False), description="JSON object the judge returned")
    input_tokens: int | None = None
    output_tokens: int | None = None
    created_at: datetime
