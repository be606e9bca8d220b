"""Email for the example deployment's support agent: messages are written to outbox/ in the working
directory (a gateway on the device sends them on); sending asks for approval."""

from __future__ import annotations

import re
import time
from pathlib import Path


def send_email(to: str, subject: str, body: str) -> str:
    """Send an email (it is queued in the outbox).

    Args:
        to: The recipient's address.
        subject: The subject line.
        body: The message.
    """
    if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[a-z]{2,}", to.strip(), re.I):
        raise ValueError(f"not an email address: {to!r}")
    outbox = Path("outbox")
    outbox.mkdir(exist_ok=True)
    path = outbox / f"{int(time.time() * 1000)}.eml"
    path.write_text(f"To: {to}\nSubject: {subject}\n\n{body}\n", encoding="utf-8")
    return f"queued for {to}: {path.name}"
