"""Logs in MEDSAFE_LOG_FORMAT: JSON lines that parse and carry the bound context, text lines
that end with it; context binds per block and never leaks out of it."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from service.observability.logs import (
    bound_context,
    configure_logging,
    handler_for,
    log_context,
    logging_config,
    shard_log_context,
)

log = logging.getLogger("tests.observability")


@pytest.fixture
def captured() -> Iterator[tuple[io.StringIO, io.StringIO]]:
    """(JSON lines, text lines) of everything logged at INFO and above meanwhile."""
    root = logging.getLogger()
    streams = io.StringIO(), io.StringIO()
    handlers = [handler_for("json", streams[0]), handler_for("text", streams[1])]
    level = root.level
    root.setLevel(logging.INFO)
    for handler in handlers:
        root.addHandler(handler)
    try:
        yield streams
    finally:
        for handler in handlers:
            root.removeHandler(handler)
        root.setLevel(level)


def _lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_lines_carry_the_bound_context_and_extra_fields(
        captured: tuple[io.StringIO, io.StringIO]) -> None:
    log.info("outside")
    with log_context(eval_id="e1", stage="generate", shard_index=3):
        log.info("inside %s", "the shard", extra={"items": 5})
        with log_context(job_id="e1-generate-3"):
            log.warning("nested")
    log.info("after")
    outside, inside, nested, after = _lines(captured[0])
    assert outside["message"] == "outside" and "eval_id" not in outside
    assert outside["level"] == "info" and outside["logger"] == "tests.observability"
    assert outside["ts"].endswith("+00:00")
    assert inside["message"] == "inside the shard"
    assert (inside["eval_id"], inside["stage"], inside["shard_index"], inside["items"]) == (
        "e1", "generate", 3, 5)
    assert nested["job_id"] == "e1-generate-3" and nested["shard_index"] == 3
    assert nested["level"] == "warning"
    assert "eval_id" not in after and bound_context() == {}


def test_a_traceback_stays_inside_its_json_line(
        captured: tuple[io.StringIO, io.StringIO]) -> None:
    try:
        raise ValueError("engine exploded")
    except ValueError:
        log.exception("shard failed")
    (line,) = _lines(captured[0])
    assert line["message"] == "shard failed"
    assert "ValueError: engine exploded" in line["exc_info"]


def test_text_lines_end_with_the_context(captured: tuple[io.StringIO, io.StringIO]) -> None:
    with log_context(eval_id="e1", shard_index=0):
        log.info("answered")
    log.info("idle")
    answered, idle = captured[1].getvalue().splitlines()
    assert answered.endswith("tests.observability answered [eval_id=e1 shard_index=0]")
    assert idle.endswith("tests.observability idle")


def test_a_shard_function_binds_its_eval_stage_and_index(
        captured: tuple[io.StringIO, io.StringIO]) -> None:
    @shard_log_context("judge")
    def shard(eval_id: str, index: int, engines: object = None) -> dict[str, Any]:
        log.info("grading")
        return bound_context()

    assert shard("e2", 4) == {"eval_id": "e2", "stage": "judge", "shard_index": 4}
    assert shard(eval_id="e3", index=0)["eval_id"] == "e3"
    first, second = _lines(captured[0])
    assert (first["eval_id"], first["stage"], first["shard_index"]) == ("e2", "judge", 4)
    assert (second["eval_id"], second["shard_index"]) == ("e3", 0)


def test_configure_logging_puts_one_formatted_handler_on_the_root(
        capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        root.handlers[:] = [logging.NullHandler()]
        configure_logging("json")  # as basicConfig: a root with handlers is left alone
        assert [type(h) for h in root.handlers] == [logging.NullHandler]
        configure_logging("json", force=True)
        configure_logging("json", force=True)  # again: still one handler
        ours = [h for h in root.handlers if type(h) is logging.StreamHandler]
        assert len(ours) == 1
        with log_context(eval_id="e4"):
            logging.getLogger("uvicorn.error").info("started")
        line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
        assert (line["logger"], line["message"], line["eval_id"]) == (
            "uvicorn.error", "started", "e4")
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])


def test_the_format_is_checked() -> None:
    with pytest.raises(ValueError):
        logging_config("xml")
    with pytest.raises(ValueError):
        configure_logging("xml")
