"""Multiple-choice questions (kind mcq): the prompt, the constrained answer and its grade.

The model sees the question and its lettered options and answers with one letter; on vLLM
the answer is constrained to exactly one of the letters (structured output `choice`), so it
always parses. Engines that cannot constrain (hosted HTTP models) are asked the same and the
first option letter standing alone in the reply is read; a reply with none is unscored.
"""

from __future__ import annotations

import re

from service.benchmarks.items import OPTION_LETTERS
from service.pipeline.engine import Conversation, SamplingSettings
from service.pipeline.records import GradeRecord, GradeStatus, ItemToJudge

INSTRUCTION = "Answer with the letter of the one correct option only."
# A constrained answer is one token; an unconstrained engine gets room for "The answer is B".
MAX_TOKENS = 16


def letters(n_options: int) -> tuple[str, ...]:
    return tuple(OPTION_LETTERS[:n_options])


def question_text(prompt: str, options: tuple[str, ...]) -> str:
    lines = [prompt, "", *(f"{letter}. {option}" for letter, option
                           in zip(OPTION_LETTERS, options, strict=False)), "", INSTRUCTION]
    return "\n".join(lines)


def conversation(prompt: str, options: tuple[str, ...], system_prompt: str | None) -> Conversation:
    messages: Conversation = []
    if system_prompt:
        messages.append({"role": "system", "content": system_prompt})
    messages.append({"role": "user", "content": question_text(prompt, options)})
    return messages


def sampling(n_options: int, seed: int | None) -> SamplingSettings:
    """Greedy, constrained to one letter: the model's likeliest option."""
    return SamplingSettings(max_tokens=MAX_TOKENS, temperature=0.0, top_p=1.0, seed=seed,
                            choices=letters(n_options))


def chosen_letter(reply: str, n_options: int) -> str | None:
    """The option the reply chose: the first option letter standing alone (B, B., (B), B))."""
    allowed = "".join(letters(n_options))
    match = re.search(rf"(?<![A-Za-z])([{allowed}])(?![A-Za-z])", reply.strip())
    return match[1] if match else None


def grade(item: ItemToJudge, judge_name: str) -> GradeRecord:
    """Right or wrong, under the eval's judge name (a multiple-choice answer needs no model
    to grade it); unscored when the reply named no option."""
    letter = chosen_letter(item.response, item.n_options)
    if letter is None:
        return GradeRecord(item_id=item.item_id, judge=judge_name, status=GradeStatus.UNSCORED,
                           raw=item.response, reason="the reply names no option")
    return GradeRecord(item_id=item.item_id, judge=judge_name, status=GradeStatus.SCORED,
                       correct=letter == item.answer, raw=item.response,
                       reason=f"chose {letter}; the answer is {item.answer}")
