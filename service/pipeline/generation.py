"""The generate stage: turn items into chat conversations and collect the target's answers."""

from __future__ import annotations

from service.pipeline.engine import Conversation, Engine, SamplingSettings
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
    """One batched engine call for the whole list; answers come back in item order."""
    if not items:
        return []
    conversations = [conversation_for(item.prompt, system_prompt) for item in items]
    generations = engine.chat(conversations, sampling)
    return [
        ResponseRecord(item.item_id, g.text, g.prompt_tokens, g.output_tokens, g.finish_reason)
        for item, g in zip(items, generations, strict=True)
    ]
