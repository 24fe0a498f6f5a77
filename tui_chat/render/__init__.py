"""Incremental streaming Markdown → Textual strips. No App or widget state: benchmarkable alone."""

from __future__ import annotations

from tui_chat.render.document import RenderStyle, StreamingDocument

__all__ = ["RenderStyle", "StreamingDocument"]
