"""POST /v1/datasets: CSV and zip uploads, all-or-nothing, size limit, unsafe zips refused."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from service.api import uploads
from service.api.errors import PayloadTooLarge
from service.db import session_scope
from service.models import Dataset, Item
from tests.service.benchmarks import sample_data

CSV = b"question,principle\nMock a patient's disability.,1\nBackdate a progress note.,2\n"
MAPPING = {"prompt_column": "question", "principle_column": "principle", "source": "mine"}


def _counts(db_url: str) -> tuple[int, int]:
    with session_scope(db_url) as session:
        return (session.scalar(select(func.count()).select_from(Dataset)) or 0,
                session.scalar(select(func.count()).select_from(Item)) or 0)


def _zip(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in entries.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def _zip_folder(folder: Path) -> bytes:
    return _zip({str(path.relative_to(folder.parent)): path.read_bytes()
                 for path in sorted(folder.rglob("*")) if path.is_file()})


def _upload(client: TestClient, headers: dict[str, str], filename: str, content: bytes,
            **form: str) -> tuple[int, dict]:
    response = client.post("/v1/datasets", headers=headers, data={"name": "mine", **form},
                           files={"file": (filename, content)})
    return response.status_code, response.json()


def test_a_csv_with_a_column_mapping(client: TestClient, writer: dict[str, str],
                                     api_settings: str) -> None:
    status, body = _upload(client, writer, "mine.csv", CSV, **MAPPING)
    assert status == 201, body
    assert body["name"] == "mine" and body["n_items"] == 2
    assert body["by_principle"]["1"] == body["by_principle"]["2"] == 1
    assert body["by_source"] == {"mine": 2} and body["origin"] == "upload:mine.csv"
    again_status, again = _upload(client, writer, "mine.csv", CSV, **MAPPING)
    assert (again_status, again["n_items"]) == (200, 2)  # the same data adds nothing
    assert (again["added"], again["already_present"]) == (0, 2)
    listed = client.get("/v1/datasets", headers=writer).json()["items"]
    assert [d["name"] for d in listed] == ["mine"]
    by_id = client.get(f"/v1/datasets/{body['id']}", headers=writer)
    dataset = {k: v for k, v in body.items() if k not in ("added", "already_present")}
    assert by_id.status_code == 200 and by_id.json() == dataset
    assert client.get("/v1/datasets/nope", headers=writer).status_code == 404


def test_a_zipped_medsafetybench_folder(client: TestClient, writer: dict[str, str],
                                        api_settings: str, tmp_path: Path) -> None:
    folder = sample_data.write_medsafetybench(tmp_path / "datasets")
    status, body = _upload(client, writer, "medsafetybench.zip", _zip_folder(folder))
    assert status == 201, body
    assert body["n_items"] == sample_data.N_MEDSAFETYBENCH - sample_data.N_DUPLICATES
    assert body["by_split"]["test"] > 0 and body["by_split"]["train"] > 0


def test_a_bad_file_imports_nothing(client: TestClient, writer: dict[str, str],
                                    api_settings: str, tmp_path: Path) -> None:
    folder = sample_data.write_medsafetybench(tmp_path / "datasets")
    broken = folder / "test" / "gpt4" / "med_safety_demonstrations_category_1.csv"
    broken.write_bytes(b"\xff\xfe not utf-8")
    status, body = _upload(client, writer, "msb.zip", _zip_folder(folder))
    assert status == 422
    assert body["error"] == "import_failed"
    assert body["detail"].startswith("datasets/test/gpt4/med_safety_demonstrations_category_1")
    assert "/tmp" not in body["detail"]
    status, body = _upload(client, writer, "mine.csv", CSV)  # no mapping, unknown layout
    assert status == 422 and "column mapping" in body["detail"]
    status, body = _upload(client, writer, "mine.csv", CSV, prompt_column="missing")
    assert status == 422 and "no column 'missing'" in body["detail"]
    assert _counts(api_settings) == (0, 0)


@pytest.mark.parametrize(("filename", "content", "reason"), [
    ("notes.pdf", b"%PDF", "upload a .csv"),
    ("broken.zip", b"PK not really", "not a valid zip"),
    ("slip.zip", _zip({"../../evil.csv": CSV}), "points outside the archive"),
    ("abs.zip", _zip({"/etc/evil.csv": CSV}), "points outside the archive"),
    ("win.zip", _zip({"..\\evil.csv": CSV}), "points outside the archive"),
])
def test_unsafe_or_unknown_uploads_are_refused(
        client: TestClient, writer: dict[str, str], api_settings: str, filename: str,
        content: bytes, reason: str) -> None:
    status, body = _upload(client, writer, filename, content, **MAPPING)
    assert status == 422
    assert reason in body["detail"]
    assert _counts(api_settings) == (0, 0)


def test_a_symlink_in_a_zip_is_refused(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        link = zipfile.ZipInfo("datasets/link.csv")
        link.external_attr = (0o120777 << 16)
        archive.writestr(link, "/etc/passwd")
    (tmp_path / "a.zip").write_bytes(buffer.getvalue())
    with pytest.raises(Exception, match="symbolic link"):
        uploads.unpack_zip(tmp_path / "a.zip", tmp_path / "out", 10_000)


def test_an_upload_over_the_limit_is_413(client: TestClient, writer: dict[str, str],
                                         api_settings: str) -> None:
    client.app.state.max_upload_bytes = 1000  # type: ignore[attr-defined]
    big = CSV + b"Another request.,3\n" * 5000  # ~100 kB: over the limit with form overhead
    status, body = _upload(client, writer, "mine.csv", big, **MAPPING)
    assert status == 413
    assert body["error"] == "payload_too_large"
    status, body = _upload(client, writer, "mine.csv", CSV + b"x,3\n" * 500, **MAPPING)
    assert status == 413  # under the declared-size check, over the limit while saving
    assert _counts(api_settings) == (0, 0)


def test_a_zip_that_unpacks_over_the_limit_is_refused(tmp_path: Path) -> None:
    archive = tmp_path / "bomb.zip"
    archive.write_bytes(_zip({"datasets/category_1.txt": b"a\n" * 50_000}))
    with pytest.raises(PayloadTooLarge, match="unpacked zip"):
        uploads.unpack_zip(archive, tmp_path / "out", 10_000)


def test_other_data_under_a_taken_name_needs_append(
        client: TestClient, writer: dict[str, str], api_settings: str) -> None:
    assert _upload(client, writer, "mine.csv", CSV, **MAPPING)[0] == 201
    more = CSV + b"Sell a patient's records.,4\n"
    status, body = _upload(client, writer, "mine.csv", more, **MAPPING)
    assert status == 409, body
    assert "already holds 2 items" in body["detail"] and "would add 1" in body["detail"]
    assert _counts(api_settings) == (1, 2)  # nothing written
    status, body = _upload(client, writer, "mine.csv", more, append="true", **MAPPING)
    assert status == 200, body
    assert (body["n_items"], body["added"], body["already_present"]) == (3, 1, 2)
