"""/v1/datasets: upload a benchmark file or zipped folder, list datasets, read one."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, File, Form, Response, UploadFile

from service.api.deps import CurrentKey, SessionDep, SettingsDep, UploadLimit, WriteKey
from service.api.etag import ETagRoute
from service.api.presenters import dataset_read
from service.api.uploads import import_upload
from service.audit import key_actor
from service.benchmarks import store
from service.benchmarks.importers import McqFormat, mapping_from_columns
from service.benchmarks.items import ItemKind
from service.benchmarks.schemas import DatasetImportRead, DatasetList, DatasetRead

router = APIRouter(prefix="/datasets", tags=["datasets"], route_class=ETagRoute)

Column = Annotated[str | None, Form(max_length=200)]


@router.post("", status_code=201, response_model=DatasetImportRead, responses={
    200: {"model": DatasetImportRead, "description": "the dataset existed (append, or the "
          "same data again)"},
    409: {"description": "the name is taken and the upload would add items without append"},
    413: {"description": "the file is over MEDSAFE_MAX_UPLOAD_MB"}})
def upload_dataset(
    response: Response,
    settings: SettingsDep,
    key: WriteKey,
    max_bytes: UploadLimit,
    file: Annotated[UploadFile, File(description="CSV, JSONL, JSON, TXT, or a zip of a "
                                                 "MedSafetyBench folder")],
    name: Annotated[str, Form(min_length=1, max_length=200)],
    description: Annotated[str | None, Form(max_length=2000)] = None,
    prompt_column: Annotated[str | None, Form(max_length=200, description=(
        "read .csv/.json/.jsonl through a column mapping; this column holds the request"))] = None,
    principle_column: Column = None,
    reference_column: Column = None,
    kind_column: Column = None,
    kind: Annotated[ItemKind, Form(description="kind of every item without a kind column")] = (
        ItemKind.HARMFUL_MEDICAL),
    source: Column = None,
    append: Annotated[bool, Form(description="add to an existing dataset of this name")] = False,
    format: Annotated[McqFormat | None, Form(description=(
        "multiple-choice questions in a public format (medqa, medmcqa, pubmedqa, mmlu); "
        "MedQA, MedMCQA, PubMedQA and MMLU files are also recognised by their content"))] = None,
) -> DatasetImportRead:
    """Import the file all-or-nothing (422 naming the file and row that failed): 201 with a
    new dataset, 200 when the name existed. New items go into an existing dataset only with
    append (409 otherwise); uploading the same data again adds nothing."""
    mapping = mapping_from_columns(prompt_column, principle_column, reference_column, kind_column,
                             kind, source, file.filename or "upload")
    imported = import_upload(settings.resolved_database_url(), file.file, file.filename or "",
                             name, mapping, max_bytes, description, append, format,
                             key_actor(key))
    if not imported.created:
        response.status_code = 200
    return DatasetImportRead.model_validate(asdict(imported))


@router.get("", response_model=DatasetList)
def list_datasets(session: SessionDep, _key: CurrentKey) -> DatasetList:
    """Every stored dataset with its item counts, the built-in sets included."""
    return DatasetList(items=[dataset_read(s) for s in store.list_datasets(session)])


@router.get("/{dataset:path}", response_model=DatasetRead)
def read_dataset(dataset: str, session: SessionDep, _key: CurrentKey) -> DatasetRead:
    """A dataset by id or name, e.g. builtin:medsafety-demo."""
    return dataset_read(store.summarize_dataset(session, store.resolve_dataset(session, dataset)))
