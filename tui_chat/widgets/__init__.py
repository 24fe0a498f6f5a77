"""Widgets: Textual and the domain types only; never the SDK, never SQL."""
