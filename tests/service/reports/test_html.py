"""The HTML report: hostile text in requests, answers and reasons is shown as text; the page
loads nothing from anywhere; its numbers are the summary's."""

from __future__ import annotations

import json

import pytest

from service.db import session_scope
from service.errors import Conflict
from service.evals import lifecycle
from service.evals.reports import eval_judge_calibration, eval_report
from service.evals.service import EvalRequest, submit_eval
from service.pipeline.engine import SamplingSettings
from service.reports.html import CONTENT_SECURITY_POLICY, environment, eval_report_html
from tests.service.api.builders import JUDGE
from tests.service.reports.helpers import IMG, SCRIPT, Tags, hostile_eval, metric_value

ALLOWED_TAGS = {"html", "head", "meta", "title", "style", "body", "h1", "h2", "h3", "p",
                "table", "tr", "th", "td", "span", "ul", "li", "svg", "text", "rect",
                "line"}


def _page(db_url: str, eval_id: str, items: int = 50) -> str:
    with session_scope(db_url) as session:
        return eval_report_html(session, lifecycle.get_eval(session, eval_id), items)


def test_markup_in_requests_answers_and_reasons_is_text(db_url: str) -> None:
    eval_id, _ = hostile_eval(db_url)
    page = _page(db_url, eval_id)
    assert "&lt;script&gt;alert(&#39;xss&#39;)&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in page
    assert "<script" not in page.lower() and SCRIPT not in page and IMG not in page
    tags = Tags(page).tags
    assert {tag for tag, _ in tags} <= ALLOWED_TAGS
    for tag, attributes in tags:
        assert not any(name.startswith("on") for name in attributes), (tag, attributes)
        assert not {"src", "href", "xlink:href", "action", "srcset"} & set(attributes), tag


def test_the_page_loads_nothing(db_url: str) -> None:
    eval_id, _ = hostile_eval(db_url)  # its hostile request names an http:// address
    page = _page(db_url, eval_id, items=0)
    assert "http://" not in page and "https://" not in page and "url(" not in page
    assert "@import" not in page
    metas = [a for tag, a in Tags(page).tags if tag == "meta"]
    assert {"http-equiv": "Content-Security-Policy",
            "content": CONTENT_SECURITY_POLICY} in metas
    assert "default-src 'none'" in CONTENT_SECURITY_POLICY


def test_the_numbers_are_the_summarys(db_url: str) -> None:
    eval_id, _ = hostile_eval(db_url)
    page = _page(db_url, eval_id)
    with session_scope(db_url) as session:
        evaluation = lifecycle.get_eval(session, eval_id)
        summary = json.loads(eval_report(
            evaluation, eval_judge_calibration(session, evaluation)).model_dump_json())
    metrics = {k: v for k, v in Tags(page).metrics.items() if not k.startswith("distribution")}
    assert len(metrics) >= 13 + 9 * 3  # headline numbers, and per principle mean and rates
    for path, shown in metrics.items():
        assert json.loads(shown) == metric_value(summary, path), path
    assert f'{summary["mean_harmfulness"]:.2f}' in page
    assert f'{summary["harmful_rate"] * 100:.1f}%' in page


def test_the_score_distribution_counts_harmful_items(db_url: str) -> None:
    eval_id, _ = hostile_eval(db_url)
    metrics = Tags(_page(db_url, eval_id)).metrics
    counts = {int(k.split(".")[1]): int(v) for k, v in metrics.items()
              if k.startswith("distribution.")}
    assert sorted(counts) == [1, 2, 3, 4, 5]
    assert sum(counts.values()) == int(metrics["n_scored"]) - 1  # the benign item is not


def test_the_worst_items_come_first_and_are_bounded(db_url: str) -> None:
    eval_id, item_id = hostile_eval(db_url)
    rows = [a for tag, a in Tags(_page(db_url, eval_id, items=3)).tags
            if tag == "tr" and a.get("class") == "item"]
    assert len(rows) == 3
    page = _page(db_url, eval_id, items=1)  # the hostile item: the first to score 5
    assert page.count('<tr class="item">') == 1
    assert f'<tr class="item"><td class="n">{item_id}</td>' in page


def test_an_unfinished_eval_has_no_report(db_url: str) -> None:
    hostile_eval(db_url)
    request = EvalRequest(model="openai:target", datasets=["msb"], judge=JUDGE,
                          sampling=SamplingSettings(seed=1))
    with session_scope(db_url) as session:
        eval_id = submit_eval(session, request, enqueue=False).evaluation.id
    with pytest.raises(Conflict, match="succeeded"):
        _page(db_url, eval_id)


def test_autoescape_is_on() -> None:
    template = environment().from_string("{{ value }}")
    assert template.render(value="<b>") == "&lt;b&gt;"
