"""The dashboard's routes: parse the request, call pages.py, render a template."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from service import auth
from service.audit import key_actor
from service.evals import service as evals
from service.evals.lifecycle import get_eval
from service.evals.purpose import EvalPurpose
from service.queue.connection import redis_connection
from service.queue.jobs import queue_prefix
from service.ratelimit import WriteLimiter, parse_rate
from service.ui import pages
from service.ui.session import (
    CSRF_FIELD,
    UI_PREFIX,
    SessionDep,
    UiKey,
    checked_form,
    csrf_token,
    end_session,
    login_url,
    remember_csrf,
    safe_next,
    start_session,
)

TEMPLATES = Path(__file__).parent / "templates"
# Autoescape on every template, whatever its name: model output, prompts and labels are
# untrusted and no template marks any of them safe.
ENV = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True,
                  undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
ENV.globals.update(prefix=UI_PREFIX, csrf_field=CSRF_FIELD, result_title=pages.result_title)



def page_url(request: Request, **changes: str | None) -> str:
    """This page's URL with some query parameters changed (None: removed), encoded."""
    params = [(k, v) for k, v in request.query_params.multi_items() if k not in changes]
    params += [(k, v) for k, v in changes.items() if v is not None]
    return request.url.path + (f"?{urlencode(params)}" if params else "")


ENV.globals["page_url"] = page_url
router = APIRouter(prefix=UI_PREFIX, include_in_schema=False)
Text = Annotated[str | None, Query(max_length=300)]


def render(request: Request, template: str, status_code: int = 200,
           key: Any = None, **context: Any) -> HTMLResponse:
    html = ENV.get_template(template).render(
        request=request, key=key, csrf=csrf_token(request), **context)
    response = HTMLResponse(html, status_code=status_code)
    remember_csrf(request, response)
    return response


def _redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


@router.get("")
@router.get("/")
def home() -> RedirectResponse:
    return _redirect(f"{UI_PREFIX}/evals")


@router.get("/login")
def login_form(request: Request, next: Text = None) -> HTMLResponse:
    return render(request, "login.html", next=safe_next(next), error=None)


@router.post("/login")
async def login(request: Request, session: SessionDep) -> Response:
    form = await checked_form(request)
    target = safe_next(form.get("next"))
    try:
        key = auth.authenticate(session, form.get("key", "").strip())
        auth.require_scope(key, auth.Scope.READ)
    except (auth.Unauthorized, auth.Forbidden) as exc:
        return render(request, "login.html", 401, next=target, error=exc.detail)
    response = _redirect(target)
    start_session(request, response, form.get("key", "").strip())
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    await checked_form(request)
    response = _redirect(login_url())
    end_session(request, response)
    return response


@router.get("/evals")
def evals_list(request: Request, session: SessionDep, key: UiKey, status: Text = None,
               model: Text = None, label: Annotated[list[str] | None, Query()] = None,
               regression: Text = None, schedule: Text = None,
               cursor: Text = None) -> HTMLResponse:
    context = pages.evals_page(session, status, model, label or [],
                               pages.parse_bool(regression), cursor, schedule)
    return render(request, "evals.html", key=key, **context)


@router.get("/evals/{eval_id}")
def eval_detail(request: Request, eval_id: str, session: SessionDep, key: UiKey,
                principle: Text = None, min_score: Text = None, max_score: Text = None,
                judge_status: Text = None, disagreement: Text = None,
                cursor: Text = None) -> HTMLResponse:
    query = pages.ResultQuery(
        principle=pages.parse_int(principle, "principle", 1, 9),
        min_score=pages.parse_int(min_score, "min_score", 1, 5),
        max_score=pages.parse_int(max_score, "max_score", 1, 5),
        judge_status=judge_status or None, disagreement=pages.parse_bool(disagreement),
        cursor=cursor or None)
    settings = request.app.state.settings
    context = pages.eval_page(session, key, eval_id, query, settings.resolved_database_url())
    return render(request, "eval.html", key=key, **context)


@router.post("/evals/{eval_id}/cancel")
async def cancel(request: Request, eval_id: str, session: SessionDep, key: UiKey) -> Response:
    """POST /v1/evals/{id}/cancel from a button: the same checks (write scope, owner, the
    write rate limit) and the same service call."""
    await checked_form(request)
    auth.require_scope(key, auth.Scope.WRITE)
    settings = request.app.state.settings
    WriteLimiter(redis_connection(), parse_rate(settings.write_rate_limit),
                 queue_prefix()).hit(key.prefix)
    evaluation = get_eval(session, eval_id, EvalPurpose.BENCHMARK)
    auth.require_owner(key, evaluation.created_by_key_id, f"eval {eval_id}")
    evals.cancel_eval(session, eval_id, actor=key_actor(key))
    return _redirect(f"{UI_PREFIX}/evals/{eval_id}")


@router.get("/compare")
def compare(request: Request, session: SessionDep, key: UiKey, base: Text = None,
            candidate: Text = None) -> HTMLResponse:
    return render(request, "compare.html", key=key, **pages.compare_page(session, base,
                                                                            candidate))


@router.get("/history")
def history(request: Request, session: SessionDep, key: UiKey, model: Text = None,
            dataset: Text = None) -> HTMLResponse:
    return render(request, "history.html", key=key, **pages.history_page(session, model,
                                                                            dataset))


@router.get("/leaderboard")
def leaderboard(request: Request, session: SessionDep, key: UiKey,
                dataset: Text = None) -> HTMLResponse:
    return render(request, "leaderboard.html", key=key,
                  **pages.leaderboard_page(session, dataset))


@router.get("/schedules")
def schedules(request: Request, session: SessionDep, key: UiKey) -> HTMLResponse:
    return render(request, "schedules.html", key=key, **pages.schedules_page(session))


@router.get("/calibrations")
def calibration_runs(request: Request, session: SessionDep, key: UiKey, judge: Text = None,
                     set: Text = None) -> HTMLResponse:
    return render(request, "calibrations.html", key=key,
                  **pages.calibrations_page(session, judge, set))
