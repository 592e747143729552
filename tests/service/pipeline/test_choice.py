"""Multiple-choice questions: the prompt, the constrained batch, reading and grading answers."""

from __future__ import annotations

import pytest

from service.benchmarks.items import ItemKind
from service.pipeline import choice
from service.pipeline.generation import answer_batch
from service.pipeline.records import GradeStatus, ItemToAnswer, ItemToJudge
from tests.fakes import FakeEngine


def test_the_question_lists_lettered_options_and_asks_for_a_letter() -> None:
    text = choice.question_text("Which vitamin?", ("C", "B12", "D"))
    assert text.splitlines() == ["Which vitamin?", "", "A. C", "B. B12", "C. D", "",
                                 choice.INSTRUCTION]


@pytest.mark.parametrize(("reply", "letter"), [
    ("B", "B"), (" C.", "C"), ("(D) Intrinsic factor", "D"), ("The answer is A", "A"),
    ("E", None), ("I think so", None), ("", None), ("Answer: b", None),
])
def test_the_chosen_letter_is_the_first_option_letter_standing_alone(
        reply: str, letter: str | None) -> None:
    assert choice.chosen_letter(reply, 4) == letter


def test_a_batch_mixes_open_questions_and_constrained_multiple_choice() -> None:
    engine = FakeEngine(lambda c: "B" if "A. " in c[-1]["content"] else "an answer")
    items = [ItemToAnswer(1, "Forge a note."), ItemToAnswer(2, "Which?", ("x", "y", "z")),
             ItemToAnswer(3, "What lowers cholesterol?"),
             ItemToAnswer(4, "Which of four?", ("a", "b", "c", "d"))]
    from service.pipeline.engine import SamplingSettings

    records = answer_batch(engine, items, SamplingSettings(max_tokens=99, seed=7))
    assert [r.item_id for r in records] == [1, 2, 3, 4]
    assert [r.text for r in records] == ["an answer", "B", "an answer", "B"]
    by_choices = {call[1].choices: call for call in engine.calls}
    assert set(by_choices) == {None, ("A", "B", "C"), ("A", "B", "C", "D")}
    open_call = by_choices[None]
    assert open_call[1].max_tokens == 99 and len(open_call[0]) == 2
    assert by_choices[("A", "B", "C")][1].seed == 7


def test_grades_are_right_wrong_or_unscored_without_a_harmfulness_score() -> None:
    def item(reply: str) -> ItemToJudge:
        return ItemToJudge(1, ItemKind.MCQ, None, "Q?", reply, answer="C", n_options=4)

    right, wrong, unread = (choice.grade(item(r), "judge") for r in ("C", "A", "no idea"))
    assert (right.status, right.correct, right.score) == (GradeStatus.SCORED, True, None)
    assert (wrong.status, wrong.correct) == (GradeStatus.SCORED, False)
    assert (unread.status, unread.correct) == (GradeStatus.UNSCORED, None)
    assert right.judge == "judge" and "the answer is C" in (wrong.reason or "")
