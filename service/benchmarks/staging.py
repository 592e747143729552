"""Imports in batches: an upload's rows are written in short transactions into a hidden
staging dataset, then published in one last short transaction.

A single transaction would hold SQLite's only writer lock for the whole insert, and every
other writer (an eval's submission, a worker saving a shard) would wait on it. Here each
batch of BATCH_ROWS rows commits on its own. The rows stay invisible meanwhile: the staging
dataset is not a benchmark, so no listing, lookup or eval sees it. Publishing renames it
(a new dataset) or copies its rows into the existing dataset (append) and drops it, in one
transaction with the audit entry. An import that fails drops its staging dataset, so
nothing is half-imported. Staging left by a process that died is dropped by the next
import once it is STALE_AFTER old.

This module manages its own transactions (service.db.session_scope per step) because the
point is to commit between batches.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Table, delete, func, literal, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from service.audit import Actor, local_actor
from service.benchmarks import store
from service.benchmarks.importers import ColumnMapping, McqFormat, read_path
from service.benchmarks.items import DatasetPurpose, ItemRecord
from service.db import session_scope, upsert
from service.errors import Conflict
from service.models import Dataset, Item, utcnow

BATCH_ROWS = 5_000
STALE_AFTER = timedelta(hours=1)
STAGING = "staging"  # datasets.purpose of rows waiting to be published


def import_in_batches(url: str, name: str, items: list[ItemRecord], origin: str,
                      description: str | None = None, append: bool = False,
                      importer: Actor | None = None) -> store.ImportedDataset:
    """store.import_items with the same checks and result, written in batches that each
    commit; all or nothing. Commits."""
    with session_scope(url) as session:
        drop_stale_staging(session)
        plan = store.plan_import(session, name, items, origin, append)
        if plan.adds_nothing:  # nothing to write but, perhaps, the description
            return store.import_items(session, name, items, origin, description, append,
                                      importer)
    rows = [row for row in store.item_rows(0, items) if row["key"] not in plan.present]
    staging_id = _create_staging(url)
    try:
        for start in range(0, len(rows), BATCH_ROWS):
            with session_scope(url) as session:
                batch = rows[start:start + BATCH_ROWS]
                for row in batch:
                    row["dataset_id"] = staging_id
                upsert(session, Item, batch, keys=["dataset_id", "key"])
        with session_scope(url) as session:
            return _publish(session, staging_id, name, origin, description, append,
                            importer, already_present=len(plan.present))
    except BaseException:
        with session_scope(url) as session:
            session.execute(delete(Dataset).where(Dataset.id == staging_id))
        raise


def import_path(url: str, path: Path, name: str, mapping: ColumnMapping | None = None,
                append: bool = False, mcq_format: McqFormat | None = None) -> store.ImportedDataset:
    """Read a file or folder (all-or-nothing) and import its items as dataset `name` in
    batches, as the local user (`medsafe datasets import`). Commits."""
    origin = str(Path(path).absolute())
    store.check_name(name, origin)
    return import_in_batches(url, name, read_path(Path(path), mapping, mcq_format), origin,
                             append=append, importer=local_actor())


def drop_stale_staging(session: Session) -> int:
    """Drop the staging datasets (and their rows) of imports that died; how many."""
    stale = session.execute(delete(Dataset).where(
        Dataset.purpose == STAGING, Dataset.created_at < utcnow() - STALE_AFTER))
    return int(getattr(stale, "rowcount", 0) or 0)


def _create_staging(url: str) -> int:
    with session_scope(url) as session:
        dataset = Dataset(name=f"{store.STAGING_PREFIX}{uuid.uuid4().hex}", origin=None,
                          description=None, purpose=STAGING, created_at=utcnow())
        session.add(dataset)
        session.flush()
        return dataset.id


def _publish(session: Session, staging_id: int, name: str, origin: str,
             description: str | None, append: bool, importer: Actor | None, *,
             already_present: int) -> store.ImportedDataset:
    """Make the staged rows dataset `name`'s, as the plan said, unless the dataset changed
    meanwhile in a way the plan did not allow (Conflict)."""
    existing = store.find_dataset(session, name)
    if existing is None:
        added = _rename(session, staging_id, name, origin, description)
        created, target = True, staging_id
    else:
        if existing.purpose != DatasetPurpose.BENCHMARK or not append:
            raise Conflict(f"dataset {name!r} was created by another import meanwhile; "
                           "import again (with append to add to it)")
        added = _move_rows(session, staging_id, existing.id)
        session.execute(delete(Dataset).where(Dataset.id == staging_id))
        if description is not None:
            existing.description = description
        created, target = False, existing.id
    dataset = session.get(Dataset, target)
    assert dataset is not None
    if importer is not None:
        store.audit_import(session, importer, target, created=created, added=added)
    summary = store.summarize_dataset(session, dataset)
    return store.ImportedDataset(**asdict(summary), added=added,
                                 already_present=already_present, created=created)


def _rename(session: Session, staging_id: int, name: str, origin: str,
            description: str | None) -> int:
    dataset = session.get(Dataset, staging_id, with_for_update=True)
    if dataset is None:
        raise Conflict(f"the import of {name!r} lost its staged rows; import again")
    dataset.name, dataset.origin, dataset.description = name, origin, description
    dataset.purpose, dataset.created_at = DatasetPurpose.BENCHMARK, utcnow()
    try:
        session.flush()
    except IntegrityError:
        raise Conflict(f"dataset {name!r} was created by another import meanwhile; import "
                       "again (with append to add to it)") from None
    return _count(session, staging_id)


def _move_rows(session: Session, staging_id: int, target_id: int) -> int:
    """Copy the staged rows into the target (keys it holds meanwhile are kept); how many."""
    table = cast(Table, Item.__table__)
    columns = [c.name for c in table.columns if c.name not in ("id", "dataset_id")]
    source = select(literal(target_id), *[table.c[c] for c in columns]).where(
        table.c.dataset_id == staging_id)
    insert: Any = (postgresql.insert if session.get_bind().dialect.name == "postgresql"
                   else sqlite.insert)(table)
    before = _count(session, target_id)
    session.execute(insert.from_select(["dataset_id", *columns], source)
                    .on_conflict_do_nothing(index_elements=["dataset_id", "key"]))
    return _count(session, target_id) - before  # rowcount is -1 here on psycopg


def _count(session: Session, dataset_id: int) -> int:
    return int(session.scalar(select(func.count()).select_from(Item).where(
        Item.dataset_id == dataset_id)) or 0)
