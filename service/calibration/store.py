"""Labelled sets in the database: a dataset of purpose "labelled" whose every item has a Label
(the response and its human labels). Imports are all-or-nothing."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.benchmarks.items import DatasetPurpose
from service.benchmarks.store import CHUNK_ROWS, check_name, dataset_row, find_dataset, item_row
from service.calibration.builtin import BUILTIN_LABELLED_SETS, builtin_labelled
from service.calibration.importer import LabelMapping, read_labelled
from service.calibration.labels import LabelledRecord
from service.calibration.schemas import LabelledSetImportRead, LabelledSetRead
from service.db import upsert
from service.errors import Conflict, InvalidInput, NotFound
from service.models import Dataset, Item, Label

BUILTIN_ORIGIN = "builtin"


def import_labelled(session: Session, name: str, records: list[LabelledRecord], origin: str,
                    description: str | None = None) -> LabelledSetImportRead:
    """Store the records as labelled set `name`. The same records again add nothing; a set
    of that name holding other records, or a benchmark of that name, is a Conflict. Does not
    commit."""
    check_name(name, origin)
    if not records:
        raise InvalidInput(f"labelled set {name!r}: there are no labelled responses")
    existing = find_dataset(session, name)
    keyed = {record.key(): record for record in records}
    if existing is not None:
        if existing.purpose != DatasetPurpose.LABELLED:
            raise Conflict(f"{name!r} is a benchmark dataset; choose another name for the "
                           "labelled set")
        stored = set(session.scalars(select(Item.key).where(Item.dataset_id == existing.id)))
        if stored == set(keyed):
            return LabelledSetImportRead(set=labelled_set_read(session, existing), added=0)
        raise Conflict(f"labelled set {name!r} already exists with other responses; choose "
                       "another name")
    dataset = dataset_row(session, name, origin, description, DatasetPurpose.LABELLED)
    rows = [item_row(dataset.id, key, record.item) for key, record in keyed.items()]
    for start in range(0, len(rows), CHUNK_ROWS):
        upsert(session, Item, rows[start:start + CHUNK_ROWS], keys=["dataset_id", "key"])
    ids = {row.key: row.id for row in session.execute(
        select(Item.key, Item.id).where(Item.dataset_id == dataset.id))}
    labels = [{"item_id": ids[key], "response": r.response,
               "refused": None if r.refused is None else str(r.refused),
               "harmfulness": r.harmfulness, "model": r.model, "rationale": r.rationale}
              for key, r in keyed.items()]
    for start in range(0, len(labels), CHUNK_ROWS):
        upsert(session, Label, labels[start:start + CHUNK_ROWS], keys=["item_id"])
    return LabelledSetImportRead(set=labelled_set_read(session, dataset), added=len(keyed))


def import_labelled_path(session: Session, path: Path, name: str,
                         mapping: LabelMapping) -> LabelledSetImportRead:
    origin = str(Path(path).absolute())
    check_name(name, origin)
    return import_labelled(session, name, read_labelled(Path(path), mapping), origin)


def install_builtin_labelled_sets(session: Session) -> None:
    """Store builtin:calibration where it is missing (with every schema upgrade)."""
    for name, description in BUILTIN_LABELLED_SETS.items():
        if find_dataset(session, name) is None:
            import_labelled(session, name, list(builtin_labelled()), BUILTIN_ORIGIN,
                            description)


def resolve_labelled_set(session: Session, name_or_id: str | int) -> Dataset:
    """A labelled set by name or id; NotFound naming the ones there are."""
    dataset = find_dataset(session, name_or_id)
    if dataset is None or dataset.purpose != DatasetPurpose.LABELLED:
        names = ", ".join(s.name for s in list_labelled_sets(session)) or "none"
        raise NotFound(f"no labelled set {name_or_id!r}; import one with medsafe calibration "
                       f"import, or use one of: {names}")
    return dataset


def list_labelled_sets(session: Session) -> list[LabelledSetRead]:
    sets = session.scalars(select(Dataset).where(Dataset.purpose == DatasetPurpose.LABELLED)
                           .order_by(Dataset.name)).all()
    return [labelled_set_read(session, dataset) for dataset in sets]


def labelled_set_read(session: Session, dataset: Dataset) -> LabelledSetRead:
    row = session.execute(
        select(func.count(), func.count(Label.refused), func.count(Label.harmfulness))
        .select_from(Item).join(Label, Label.item_id == Item.id)
        .where(Item.dataset_id == dataset.id)).one()
    return LabelledSetRead(id=dataset.id, name=dataset.name, description=dataset.description,
                           n_items=row[0], n_refusal_labels=row[1],
                           n_harmfulness_labels=row[2])
