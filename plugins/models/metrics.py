"""ModelMetrics: per-model figures from ``llm.usage`` events over a bounded window."""

from __future__ import annotations

import dataclasses
import math
from collections import OrderedDict, deque
from collections.abc import Sequence

from pygent_sdk import Event
from pygent_sdk.models import LlmUsage


@dataclasses.dataclass(frozen=True, slots=True)
class Percentiles:
    p50: float
    p95: float
    p99: float


@dataclasses.dataclass(frozen=True, slots=True)
class Figures:
    """One model's last ``count`` exchanges (at most the window)."""

    model: str
    count: int
    errors: int
    cancelled: int
    prompt_tokens: int
    completion_tokens: int
    latency_s: Percentiles | None
    """Seconds from request to the last chunk."""
    first_token_s: Percentiles | None
    tokens_per_s: Percentiles | None
    """Completion tokens per second after the first token (generation speed), per exchange."""


def percentile(ordered: Sequence[float], p: float) -> float:
    """The nearest-rank ``p``-th percentile of ``ordered`` (sorted, not empty)."""
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def percentiles(values: list[float]) -> Percentiles | None:
    if not values:
        return None
    values.sort()
    return Percentiles(percentile(values, 50), percentile(values, 95), percentile(values, 99))


class ModelMetrics:
    """The last ``window`` exchanges of each of the ``max_models`` most recently used models."""

    def __init__(self, window: int, max_models: int = 256) -> None:
        self.window = window
        self.max_models = max_models
        self._seen: OrderedDict[str, deque[LlmUsage]] = OrderedDict()

    def record(self, event: Event) -> None:
        """A ``pygent_listeners`` callback for ``llm.usage``."""
        if not isinstance(event, LlmUsage):
            return
        window = self._seen.get(event.model)
        if window is None:
            window = self._seen[event.model] = deque(maxlen=self.window)
            if len(self._seen) > self.max_models:
                self._seen.popitem(last=False)
        else:
            self._seen.move_to_end(event.model)
        window.append(event)

    def figures(self, model: str) -> Figures:
        """``model``'s figures; all counts zero when it has not been used."""
        window = list(self._seen.get(model, ()))
        ok = [u for u in window if u.finish_reason not in ("error", "cancelled")]
        speeds = [
            (u.completion_tokens - 1) / (u.total_s - u.first_token_s) for u in ok
            if u.first_token_s is not None and u.completion_tokens > 1 and u.total_s > u.first_token_s
        ]
        return Figures(
            model=model, count=len(window),
            errors=sum(u.finish_reason == "error" for u in window),
            cancelled=sum(u.finish_reason == "cancelled" for u in window),
            prompt_tokens=sum(u.prompt_tokens for u in window),
            completion_tokens=sum(u.completion_tokens for u in window),
            latency_s=percentiles([u.total_s for u in ok]),
            first_token_s=percentiles([u.first_token_s for u in ok if u.first_token_s is not None]),
            tokens_per_s=percentiles(speeds),
        )
