"""Datasets in the database: saving items idempotently, finding a dataset, counting its items."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from service.audit import Actor, AuditAction, local_actor, record, stamp
from service.benchmarks.builtin import BUILTIN_DATASETS, BUILTIN_PREFIX, builtin_items
from service.benchmarks.importers import ColumnMapping, McqFormat, read_path
from service.benchmarks.items import DatasetPurpose, ItemRecord
from service.benchmarks.principles import PRINCIPLE_KEYS
from service.db import upsert
from service.errors import Conflict, InvalidInput, NotFound
from service.models import Dataset, Item, utcnow
from service.text import check_strings

BUILTIN_ORIGIN = "builtin"
CHUNK_ROWS = 500  # 11 values a row: far below SQLite's and PostgreSQL's parameter limits
MAX_NAME_CHARS = 200  # datasets.name column
NO_VALUE = "none"  # the count key for items without a principle or split
STAGING_PREFIX = "~importing~"  # a batched import's rows wait under this name (staging.py)


@dataclass(frozen=True)
class DatasetSummary:
    """A dataset and how its items divide by kind, principle, source and split."""

    id: int
    name: str
    origin: str | None
    n_items: int
    by_kind: dict[str, int]
    by_principle: dict[str, int]  # always "1".."9" and "none", zeros included
    by_source: dict[str, int]
    by_split: dict[str, int]  # "train", "test", ... and "none"
    description: str | None = None


@dataclass(frozen=True)
class ImportedDataset(DatasetSummary):
    """A dataset after an import, and what the import did to it."""

    added: int = 0  # items the import stored
    already_present: int = 0  # items of the import the dataset held before
    created: bool = False  # the import made the dataset


def import_items(
    session: Session,
    name: str,
    items: list[ItemRecord],
    origin: str,
    description: str | None = None,
    append: bool = False,
    importer: Actor | None = None,
) -> ImportedDataset:
    """Save imported items as dataset `name`. An existing dataset takes new items only with
    append (Conflict otherwise, naming how many it holds and how many would be added);
    importing what it already holds adds nothing. `importer` creates the dataset and the
    import is in the audit log (None: a built-in set, installed on first use). Does not
    commit."""
    plan = plan_import(session, name, items, origin, append)
    existing, keys, present = plan.existing, plan.keys, len(plan.present)
    if existing is not None and present == len(keys):  # nothing new: nothing to write
        if description is not None and existing.description != description:
            existing.description = description
        summary = summarize_dataset(session, existing)
    else:
        summary = save_dataset(session, name, items, origin, description)
        if importer is not None:
            audit_import(session, importer, summary.id, created=existing is None,
                          added=len(keys) - present)
    return ImportedDataset(**asdict(summary), added=len(keys) - present,
                           already_present=present, created=existing is None)


@dataclass(frozen=True)
class ImportPlan:
    """What an import of `keys` into dataset `existing` (None: a new one) would add."""

    existing: Dataset | None
    keys: set[str]
    present: set[str]  # the keys the dataset holds already

    @property
    def adds_nothing(self) -> bool:
        return self.existing is not None and len(self.present) == len(self.keys)


def plan_import(session: Session, name: str, items: list[ItemRecord], origin: str,
                append: bool) -> ImportPlan:
    """Check an import of `items` as dataset `name` before anything is written: the name,
    the dataset's purpose, and that an existing dataset takes new items only with append
    (Conflict otherwise, naming how many it holds and how many would be added)."""
    check_name(name, origin)
    if not items:
        raise InvalidInput(f"dataset {name!r}: there are no items to save")
    existing = find_dataset(session, name)
    if existing is not None and existing.purpose != DatasetPurpose.BENCHMARK:
        raise Conflict(f"{name!r} is a labelled set (for judge calibration); choose another "
                       "name for this dataset")
    keys = {item.key() for item in items}
    present: set[str] = set()
    if existing is not None and keys:
        present = keys & set(session.scalars(
            select(Item.key).where(Item.dataset_id == existing.id)))
        if len(present) < len(keys) and not append:
            held = summarize_dataset(session, existing).n_items
            raise Conflict(
                f"dataset {name!r} already holds {held} items and this import would add "
                f"{len(keys) - len(present)}; import with --append (append=true) to add "
                "them, or choose another name")
    return ImportPlan(existing, keys, present)


def audit_import(session: Session, importer: Actor, dataset_id: int, *, created: bool,
                  added: int) -> None:
    if created:
        dataset = session.get(Dataset, dataset_id)
        if dataset is not None:
            stamp(dataset, importer)
    record(session, importer, AuditAction.DATASET_IMPORT, "dataset", dataset_id,
           created=created, added=added)


def save_dataset(
    session: Session,
    name: str,
    items: list[ItemRecord],
    origin: str,
    description: str | None = None,
) -> DatasetSummary:
    """Create the dataset if needed and add the items it does not hold yet (matched by
    ItemRecord.key()), so saving the same items twice adds nothing. Does not commit."""
    check_name(name, origin)
    if not items:
        raise InvalidInput(f"dataset {name!r}: there are no items to save")
    # Every row is built and checked before the first write: on SQLite the write lock is
    # held from the first insert to the commit, and other writers (an eval's submission)
    # wait on it.
    rows = item_rows(0, items)
    dataset = dataset_row(session, name, origin, description)
    for row in rows:
        row["dataset_id"] = dataset.id
    for start in range(0, len(rows), CHUNK_ROWS):
        upsert(session, Item, rows[start : start + CHUNK_ROWS], keys=["dataset_id", "key"])
    return summarize_dataset(session, dataset)


def import_path(
    session: Session, path: Path, name: str, mapping: ColumnMapping | None = None,
    append: bool = False, mcq_format: McqFormat | None = None,
) -> ImportedDataset:
    """Read a file or folder (all-or-nothing) and import its items as dataset `name`."""
    origin = str(Path(path).absolute())
    check_name(name, origin)
    return import_items(session, name, read_path(Path(path), mapping, mcq_format), origin,
                        append=append, importer=local_actor())


def resolve_dataset(session: Session, name_or_id: str | int) -> Dataset:
    """A stored benchmark by name or id; NotFound naming the ones there are (a labelled set
    is not a benchmark: calibration runs use it). Changes nothing."""
    dataset = find_dataset(session, name_or_id)
    if dataset is not None and dataset.purpose != DatasetPurpose.BENCHMARK:
        raise NotFound(f"{name_or_id!r} is a labelled set, for calibrating judges "
                       "(medsafe calibration run), not a benchmark to evaluate models on")
    if dataset is None:
        raise NotFound(_not_found_message(session, name_or_id))
    return dataset


def install_builtin_datasets(session: Session) -> list[ImportedDataset]:
    """Store every built-in set, adding only the items a set does not hold yet (run with
    each schema upgrade, so every migrated database has them); a set that holds them all
    is not written to. Does not commit."""
    return [import_items(session, name, builtin_items(name), BUILTIN_ORIGIN, description,
                         append=True)
            for name, description in BUILTIN_DATASETS.items()]


def list_datasets(session: Session) -> list[DatasetSummary]:
    """Every stored benchmark dataset with its counts, by name (labelled sets: calibration)."""
    datasets = session.scalars(select(Dataset).where(
        Dataset.purpose == DatasetPurpose.BENCHMARK).order_by(Dataset.name)).all()
    counts = _counts(session, None)
    return [_summary(dataset, counts[dataset.id]) for dataset in datasets]


def summarize_dataset(session: Session, dataset: Dataset) -> DatasetSummary:
    return _summary(dataset, _counts(session, dataset.id)[dataset.id])


def check_name(name: str, origin: str) -> None:
    if not name.strip():
        raise InvalidInput("a dataset needs a name")
    if len(name) > MAX_NAME_CHARS:
        raise InvalidInput(f"dataset names are at most {MAX_NAME_CHARS} characters")
    if name.startswith(STAGING_PREFIX):
        raise InvalidInput(f"names starting with {STAGING_PREFIX!r} are for imports under way")
    if name.startswith(BUILTIN_PREFIX) and origin != BUILTIN_ORIGIN:
        raise InvalidInput(
            f"names starting with {BUILTIN_PREFIX!r} belong to the built-in "
            "sets; choose another name for imported data"
        )


def dataset_row(session: Session, name: str, origin: str, description: str | None,
                purpose: DatasetPurpose = DatasetPurpose.BENCHMARK) -> Dataset:
    """The dataset named `name`, inserted if missing (safe when two sessions race)."""
    row = {"name": name, "origin": origin, "description": description, "created_at": utcnow(),
           "purpose": str(purpose)}
    upsert(session, Dataset, [row], keys=["name"])
    dataset = session.scalars(select(Dataset).where(Dataset.name == name)).one()
    if description is not None and dataset.description != description:
        dataset.description = description
        session.flush()
    return dataset


def item_rows(dataset_id: int, items: list[ItemRecord]) -> list[dict[str, Any]]:
    """One row per distinct key: a bulk insert must not carry the same key twice. An item
    with a NUL or a lone surrogate in its text is refused (service.text)."""
    rows: dict[str, dict[str, Any]] = {}
    for number, item in enumerate(items, start=1):
        check_strings([item.prompt, item.reference, item.source, item.split,
                       list(item.options or ()), item.answer], f"item {number}")
        key = item.key()
        rows.setdefault(key, item_row(dataset_id, key, item))
    return list(rows.values())


def item_row(dataset_id: int, key: str, item: ItemRecord) -> dict[str, Any]:
    """The items-table row of one item under the given key."""
    return {
        "dataset_id": dataset_id,
        "key": key,
        "prompt": item.prompt,
        "kind": str(item.kind),
        "principle": item.principle,
        "category": item.category,
        "reference": item.reference,
        "source": item.source,
        "split": item.split,
        "options": list(item.options) if item.options is not None else None,
        "answer": item.answer,
    }


def find_dataset(session: Session, name_or_id: str | int) -> Dataset | None:
    if isinstance(name_or_id, int):
        return session.get(Dataset, name_or_id)
    dataset = session.scalars(select(Dataset).where(Dataset.name == name_or_id)).first()
    if dataset is None and name_or_id.strip().isdigit():
        return session.get(Dataset, int(name_or_id))
    return dataset


def _not_found_message(session: Session, name_or_id: str | int) -> str:
    names = session.scalars(select(Dataset.name).where(
        Dataset.purpose == DatasetPurpose.BENCHMARK).order_by(Dataset.name).limit(20)).all()
    available = sorted({*names, *BUILTIN_DATASETS})
    return f"no dataset {name_or_id!r}; import one first, or use one of: {', '.join(available)}"


Counts = dict[int, dict[str, dict[str, int]]]  # dataset id -> field -> value -> items


def _counts(session: Session, dataset_id: int | None) -> Counts:
    """Items per dataset by kind, principle, source and split: one GROUP BY query each."""
    columns: dict[str, InstrumentedAttribute[Any]] = {
        "kind": Item.kind,
        "principle": Item.principle,
        "source": Item.source,
        "split": Item.split,
    }
    counts: Counts = defaultdict(lambda: defaultdict(dict))
    for field, column in columns.items():
        query = select(Item.dataset_id, column, func.count()).group_by(Item.dataset_id, column)
        if dataset_id is not None:
            query = query.where(Item.dataset_id == dataset_id)
        for owner, value, n in session.execute(query):
            counts[owner][field][NO_VALUE if value is None else str(value)] = n
    return counts


def _summary(dataset: Dataset, counts: dict[str, dict[str, int]]) -> DatasetSummary:
    by_kind = dict(sorted(counts.get("kind", {}).items()))
    principles = counts.get("principle", {})
    return DatasetSummary(
        id=dataset.id,
        name=dataset.name,
        origin=dataset.origin,
        n_items=sum(by_kind.values()),
        by_kind=by_kind,
        by_principle={key: principles.get(key, 0) for key in [*PRINCIPLE_KEYS, NO_VALUE]},
        by_source=dict(sorted(counts.get("source", {}).items())),
        by_split=dict(sorted(counts.get("split", {}).items())),
        description=dataset.description,
    )
