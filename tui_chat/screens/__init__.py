"""Screens: wiring of widgets, the session and the store."""
