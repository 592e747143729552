"""Response models of datasets (the REST API and `medsafe datasets list --json`)."""

from __future__ import annotations

from pydantic import BaseModel


class DatasetRead(BaseModel):
    id: int
    name: str
    description: str | None
    origin: str | None
    n_items: int
    by_kind: dict[str, int]
    by_principle: dict[str, int]
    by_source: dict[str, int]
    by_split: dict[str, int]


class DatasetImportRead(DatasetRead):
    """A dataset after an upload, and what the upload did to it."""

    added: int
    already_present: int


class DatasetList(BaseModel):
    items: list[DatasetRead]
