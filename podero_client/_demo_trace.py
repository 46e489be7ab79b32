"""``podero-client demo --trace``: the demo's spans, printed as a tree after the steps that show them.

It needs opentelemetry-sdk (the ``demo`` extra): the SDK's in-memory exporter collects the
spans of a step, which end children first, so the tree is drawn once the step is over.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

# The attributes worth a glance in a terminal, with the label each is shown under.
_SHOWN = (
    ("http.response.status_code", "status"),
    ("error.type", "error"),
    ("http.request.resend_count", "resend"),
    ("podero.retry.cause", "after"),
    ("podero.retry.wait", "waited"),
    ("podero.retry.wait_source", "from"),
    ("podero.token.grant_type", "grant"),
)


class DemoTrace:
    """A tracer provider of its own, whose finished spans ``print_tree`` draws and forgets."""

    def __init__(self) -> None:
        self._spans = InMemorySpanExporter()
        self.provider = TracerProvider()
        self.provider.add_span_processor(SimpleSpanProcessor(self._spans))

    def clear(self) -> None:
        self._spans.clear()

    def print_tree(self) -> None:
        for line in render(self._spans.get_finished_spans()):
            print(f"   trace: {line}")
        self._spans.clear()


def render(spans: Sequence[ReadableSpan]) -> Iterator[str]:
    """Each root span and its descendants, in start order, as an indented tree with times in ms."""
    ids = {span.context.span_id for span in spans if span.context is not None}
    children: dict[int | None, list[ReadableSpan]] = {}
    for span in spans:
        parent = span.parent.span_id if span.parent is not None and span.parent.span_id in ids else None
        children.setdefault(parent, []).append(span)
    for siblings in children.values():
        siblings.sort(key=lambda span: span.start_time or 0)
    for root in children.get(None, []):
        yield from _lines(root, children, root.start_time or 0, "", "")


def _lines(
    span: ReadableSpan, children: dict[int | None, list[ReadableSpan]], origin: int, head: str, tail: str
) -> Iterator[str]:
    start = ((span.start_time or 0) - origin) / 1e6
    took = ((span.end_time or 0) - (span.start_time or 0)) / 1e6
    details = [
        f"{label} {_shown(span.attributes or {}, key)}" for key, label in _SHOWN if key in (span.attributes or {})
    ]
    if span.links:
        details.append(f"linked to {len(span.links)} call(s)")
    yield f"{head}{span.name}  [+{start:.1f} ms, {took:.1f} ms]  {', '.join(details)}".rstrip()
    kids = children.get(span.context.span_id, []) if span.context is not None else []
    for number, kid in enumerate(kids):
        last = number == len(kids) - 1
        yield from _lines(
            kid, children, origin, tail + ("└── " if last else "├── "), tail + ("    " if last else "│   ")
        )


def _shown(attributes: Any, key: str) -> str:
    value = attributes[key]
    return f"{value:g}s" if isinstance(value, float) else str(value)
