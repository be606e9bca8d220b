"""Calendar tools for the example deployment's scheduler agent: events kept in calendar.json in the
working directory (the agent's workspace)."""

from __future__ import annotations

import json
from pathlib import Path

STORE = Path("calendar.json")


def _events() -> list[dict[str, str]]:
    try:
        data = json.loads(STORE.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    return data if isinstance(data, list) else []


def list_events(day: str) -> str:
    """List the events on a day.

    Args:
        day: The day, as the user said it (e.g. "Monday" or "2026-12-03").
    """
    found = [e for e in _events() if e.get("day", "").lower() == day.lower()]
    if not found:
        return f"No events on {day}."
    return "; ".join(f"{e['time']} {e['title']}" for e in sorted(found, key=lambda e: e.get("time", "")))


list_events.risk = "read"  # type: ignore[attr-defined]


def add_event(title: str, day: str, time: str) -> str:
    """Add an event to the calendar.

    Args:
        title: What the event is.
        day: The day, as the user said it.
        time: The time, e.g. "15:00".
    """
    events = _events() + [{"title": title, "day": day, "time": time}]
    tmp = STORE.with_suffix(".tmp")
    tmp.write_text(json.dumps(events, indent=1), encoding="utf-8")
    tmp.replace(STORE)
    return f"Added {title!r} on {day} at {time}."
