"""Dataset uploads: save the file (or unpack the zip) safely, then import it all-or-nothing."""

from __future__ import annotations

import re
import stat
import tempfile
import zipfile
from pathlib import Path, PurePosixPath
from typing import IO

from service.api.errors import PayloadTooLarge
from service.audit import Actor, local_actor
from service.benchmarks import staging, store
from service.benchmarks.importers import ColumnMapping, McqFormat, read_path
from service.errors import ImportFailed, InvalidInput

SUFFIXES = (".csv", ".jsonl", ".json", ".txt", ".zip")
MAX_ZIP_ENTRIES = 10_000
UNPACKED_FACTOR = 10  # a zip may unpack to ten times the upload limit, no more
CHUNK = 1024 * 1024
_UNSAFE_CHARS = re.compile(r"[^\w.\-]")


def import_upload(
    database_url: str,
    stream: IO[bytes],
    filename: str,
    name: str,
    mapping: ColumnMapping | None,
    max_bytes: int,
    description: str | None = None,
    append: bool = False,
    mcq_format: McqFormat | None = None,
    importer: Actor | None = None,
) -> store.ImportedDataset:
    """Import an uploaded CSV/JSONL/JSON/TXT file or a zip of a benchmark folder as dataset
    `name`. Nothing is saved unless every file reads cleanly; the rows are written in
    batches that each commit, and published at the end (service.benchmarks.staging)."""
    safe_name = safe_filename(filename)
    with tempfile.TemporaryDirectory(prefix="medsafe-upload-") as tmp:
        root = Path(tmp)
        saved = root / "upload" / safe_name
        saved.parent.mkdir()
        with saved.open("wb") as out:
            copy_limited(stream, out, max_bytes)
        target = saved
        if saved.suffix.lower() == ".zip":
            target = root / "unpacked"
            unpack_zip(saved, target, max_bytes * UNPACKED_FACTOR)
        try:
            items = read_path(target, mapping, mcq_format)
        except ImportFailed as exc:
            base = target if target.is_dir() else target.parent
            raise _relative_to(exc, base, safe_name) from None
    return staging.import_in_batches(database_url, name, items, origin=f"upload:{safe_name}",
                                     description=description, append=append,
                                     importer=importer or local_actor())


def safe_filename(filename: str) -> str:
    """The upload's base name with only letters, digits, '.', '-' and '_' (layouts are
    recognised by names such as category_3.csv, so those survive unchanged)."""
    base = PurePosixPath(filename.replace("\\", "/")).name
    base = _UNSAFE_CHARS.sub("_", base).lstrip(".")
    if not base or not base.lower().endswith(SUFFIXES):
        raise InvalidInput(f"upload a {', '.join(SUFFIXES)} file, not {filename!r}")
    return base


def copy_limited(
    source: IO[bytes], out: IO[bytes], max_bytes: int, what: str = "the upload"
) -> int:
    """Copy in chunks, refusing (413) as soon as more than max_bytes arrive."""
    total = 0
    while chunk := source.read(CHUNK):
        total += len(chunk)
        if total > max_bytes:
            raise PayloadTooLarge(f"{what} is over the limit of {max_bytes} bytes")
        out.write(chunk)
    return total


def unpack_zip(archive: Path, target: Path, max_bytes: int) -> None:
    """Unpack every regular file below `target`; refuse absolute paths, '..', links and
    archives that unpack to more than max_bytes (counted as written, not as declared)."""
    try:
        bundle = zipfile.ZipFile(archive)
    except zipfile.BadZipFile as exc:
        raise InvalidInput(f"{archive.name} is not a valid zip archive") from exc
    with bundle:
        entries = bundle.infolist()
        if len(entries) > MAX_ZIP_ENTRIES:
            raise InvalidInput(f"the zip holds over {MAX_ZIP_ENTRIES} entries")
        left = max_bytes
        for entry in entries:
            relative = _entry_path(entry)
            if entry.is_dir():
                continue
            destination = target.joinpath(*relative.parts)
            destination.parent.mkdir(parents=True, exist_ok=True)
            with bundle.open(entry) as source, destination.open("wb") as out:
                left -= copy_limited(source, out, left, "the unpacked zip")


def _entry_path(entry: zipfile.ZipInfo) -> PurePosixPath:
    name = entry.filename.replace("\\", "/")
    path = PurePosixPath(name)
    if path.is_absolute() or re.match(r"^[A-Za-z]:", name) or ".." in path.parts:
        raise InvalidInput(f"zip entry {entry.filename!r} points outside the archive")
    if stat.S_ISLNK(entry.external_attr >> 16):
        raise InvalidInput(f"zip entry {entry.filename!r} is a symbolic link")
    return path


def _relative_to(exc: ImportFailed, base: Path, upload: str) -> ImportFailed:
    """The same error with paths shown relative to the upload (not our temporary folder)."""
    for old, new in ((f"{base}/", ""), (str(base), upload)):
        exc.detail = exc.detail.replace(old, new)
        exc.path = exc.path.replace(old, new)
    exc.args = (exc.detail,)
    return exc
