"""The generate stage: turn items into chat conversations and collect the target's answers."""

from __future__ import annotations

from service.pipeline import choice
from service.pipeline.engine import Conversation, Engine, Generation, SamplingSettings
from service.pipeline.records import ItemToAnswer, ResponseRecord


def conversation_for(prompt: str, system_prompt: str | None) -> Conversation:
    messages: Conversation = []
    if system_prompt:
        messages.append({"role": "system", "content": system_prompt})
    messages.append({"role": "user", "content": prompt})
    return messages


def answer_batch(
    engine: Engine,
    items: list[ItemToAnswer],
    sampling: SamplingSettings,
    system_prompt: str | None = None,
) -> list[ResponseRecord]:
    """One batched engine call for the open questions and one per option count for the
    multiple-choice ones (each constrained to its letters); answers come back in item order."""
    if not items:
        return []
    batches: dict[int, list[ItemToAnswer]] = {}
    for item in items:
        batches.setdefault(len(item.options or ()), []).append(item)
    answers: dict[int, Generation] = {}
    for n_options, batch in sorted(batches.items()):
        if n_options:
            conversations = [choice.conversation(item.prompt, item.options or (), system_prompt)
                             for item in batch]
            generations = engine.chat(conversations, choice.sampling(n_options, sampling.seed))
        else:
            conversations = [conversation_for(item.prompt, system_prompt) for item in batch]
            generations = engine.chat(conversations, sampling)
        answers.update((item.item_id, g) for item, g in zip(batch, generations, strict=True))
    return [
        ResponseRecord(item.item_id, g.text, g.prompt_tokens, g.output_tokens, g.finish_reason,
                       g.error)
        for item in items for g in [answers[item.item_id]]
    ]
