"""Answers from passages: the prompt, the model's streamed reply, and the citations.

When the best passage's cosine similarity to the question is below ``[rag] min_similarity`` the
answer says honestly that nothing relevant was found, and no model is called.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from pygent_sdk import ChatMessage, ChatModel, ChatOptions
from pygent_sdk.guard import guarded_reply
from pygent_sdk.knowledge import Answer, Passage, cite, drop_unknown_markers, numbered_context

SYSTEM = (
    "You answer questions using only the numbered sources given. Cite the sources you use with "
    "their numbers in square brackets, like [1] or [2][3], right after the statement they "
    "support. If the sources do not contain the answer, say that they do not; never invent facts."
)


def nothing_found(question: str, collection: str, best: float | None, threshold: float) -> Answer:
    """The honest answer when no passage is relevant enough."""
    if best is None:
        why = f"the collection {collection!r} has no passage matching it"
    else:
        why = (f"the closest passage in collection {collection!r} has similarity {best:.2f}, "
               f"below the threshold of {threshold:.2f} ([rag] min_similarity)")
    return Answer(question, f"Nothing relevant found: {why}. I cannot answer this from the documents.",
                  (), found=False)


def fitting(passages: Sequence[Passage], max_chars: int) -> Sequence[Passage]:
    """The leading ``passages`` that :func:`numbered_context` puts in ``max_chars``."""
    context = numbered_context(passages, max_chars=max_chars)
    return next((passages[:n] for n in range(1, len(passages))
                 if numbered_context(passages[:n], max_chars=max_chars) == context), passages)


def prompt(question: str, passages: Sequence[Passage], max_chars: int) -> list[ChatMessage]:
    """The messages asking the model to answer ``question`` from the numbered ``passages``."""
    context = numbered_context(passages, max_chars=max_chars)
    return [ChatMessage("system", SYSTEM),
            ChatMessage("user", f"Sources:\n\n{context}\n\nQuestion: {question}")]


async def generate(
    model: ChatModel, question: str, passages: Sequence[Passage], *, max_chars: int,
    max_tokens: int, on_token: Callable[[str], Awaitable[None]] | None = None,
) -> Answer:
    """Stream the model's answer (at most ``max_tokens``, sentence by sentence to ``on_token``, cut
    at its first repeated sentence), then cite
    the passages that fitted in the prompt. The prompt holds at most ``max_chars`` of passages, fewer when the model's
    context window is smaller (about 3 characters a token, half the window for passages)."""
    window = model.profile.context_length
    if window:
        max_chars = max(500, min(max_chars, (window - max_tokens) * 3 // 2))
    passages = fitting(passages, max_chars)
    count = len(passages)

    async def send(piece: str) -> None:  # whole sentences: a marker is never split between two
        if on_token is not None:
            await on_token(drop_unknown_markers(piece, count))
    text, _ = await guarded_reply(  # small models loop: the reply ends at its first repeat
        model, prompt(question, passages, max_chars), ChatOptions(max_tokens=max_tokens), send)
    text = drop_unknown_markers(text, count).strip()  # "[4]" of 3 passages cites nothing
    return Answer(question, text, cite(text, passages), found=True, model=model.name)
