"""/v1/evals/{id}/report.html and results.csv / results.jsonl: an eval to share or download."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse, StreamingResponse

from service.api.deps import CurrentKey, SessionDep, SettingsDep
from service.api.etag import ETagRoute
from service.evals import lifecycle
from service.evals.purpose import EvalPurpose
from service.reports import tables
from service.reports.data import DEFAULT_WORST, MAX_WORST
from service.reports.html import CONTENT_SECURITY_POLICY, eval_report_html

router = APIRouter(prefix="/evals", tags=["reports"])
_pages = APIRouter(route_class=ETagRoute)  # the page is the same bytes while nothing changes

PAGE_HEADERS = {"Content-Security-Policy": CONTENT_SECURITY_POLICY,
                "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}


def _download_doc(media_type: str) -> dict[int | str, dict[str, Any]]:
    return {200: {"content": {media_type: {"schema": {"type": "string"}}},
                  "description": "every answered item, streamed"}}


@_pages.get("/{eval_id}/report.html", response_class=HTMLResponse, responses={
    409: {"description": "the eval has not succeeded"}})
def read_report_html(
    eval_id: str,
    session: SessionDep,
    _key: CurrentKey,
    items: Annotated[int, Query(ge=0, le=MAX_WORST, description="how many of the most "
                                "harmful answers the page lists")] = DEFAULT_WORST,
) -> HTMLResponse:
    """The summary's numbers, charts and the most harmful answers as one self-contained HTML
    page (nothing is loaded from anywhere: no scripts, fonts or images). 409 Conflict until
    the eval has succeeded, as /summary."""
    evaluation = lifecycle.get_eval(session, eval_id, EvalPurpose.BENCHMARK)
    page = eval_report_html(session, evaluation, items)
    name = tables.download_name(evaluation.id, "report", "html")
    return HTMLResponse(page, headers={**PAGE_HEADERS,
                                       "Content-Disposition": f'inline; filename="{name}"'})


@router.get("/{eval_id}/results.csv", response_class=StreamingResponse,
            responses=_download_doc("text/csv"))
def download_csv(eval_id: str, session: SessionDep, settings: SettingsDep,
                 _key: CurrentKey) -> StreamingResponse:
    """Every answered item with its grade, as CSV (the fields of /results; formula-like
    cells start with a `'`). An unfinished eval gives the rows so far
    (X-MedSafe-Eval-Status says which)."""
    return _download(eval_id, session, settings.resolved_database_url(), tables.TableFormat.CSV)


@router.get("/{eval_id}/results.jsonl", response_class=StreamingResponse,
            responses=_download_doc("application/x-ndjson"))
def download_jsonl(eval_id: str, session: SessionDep, settings: SettingsDep,
                   _key: CurrentKey) -> StreamingResponse:
    """Every answered item with its grade, one JSON object a line (the items of /results).
    An unfinished eval gives the rows so far (X-MedSafe-Eval-Status says which)."""
    return _download(eval_id, session, settings.resolved_database_url(),
                     tables.TableFormat.JSONL)


def _download(eval_id: str, session: SessionDep, url: str,
              table_format: tables.TableFormat) -> StreamingResponse:
    """404 before anything is sent; then pages of rows, each read in a session of its own
    (the request's session is closed once this returns)."""
    evaluation = lifecycle.get_eval(session, eval_id, EvalPurpose.BENCHMARK)
    name = tables.download_name(evaluation.id, "results", table_format.value)
    rows = tables.iter_results(url, evaluation.id)
    return StreamingResponse(
        tables.chunked(tables.table_lines(rows, table_format)),
        media_type=tables.MEDIA_TYPES[table_format],
        headers={"Content-Disposition": f'attachment; filename="{name}"',
                 "X-MedSafe-Eval-Status": evaluation.status,
                 "X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"})


router.include_router(_pages)
