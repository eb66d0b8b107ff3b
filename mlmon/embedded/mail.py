"""Reading the incident emails the SMTP sink wrote (``.eml`` files): subject, text part, thread headers, the
incident, the kind of change and the services behind it.

The demo and the end-to-end tests judge a scenario by what a person would read, so they parse the real
message rather than asking the services.
"""

from __future__ import annotations

import email
import email.policy
import re
from collections.abc import Iterable
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

_JOB_FOOTER = re.compile(r"^mlmon, (\w+) job\s*$", re.MULTILINE)


@dataclass(frozen=True)
class Mail:
    path: Path
    subject: str
    text: str
    severity: str  # X-Mlmon-Severity: warning, critical, resolved or digest
    job: str | None  # the services behind it ("stats", "drift", "stats,drift"), from X-Mlmon-Job
    message_id: str = ""
    in_reply_to: str = ""
    references: tuple[str, ...] = ()
    incident: str = ""  # X-Mlmon-Incident (a digest: the incidents of its items)
    event: str = ""  # X-Mlmon-Event: opened, reopened, updated, resolved, opened_resolved, digest
    kind: str = ""  # X-Mlmon-Kind: the kind of change's code

    @property
    def resolved(self) -> bool:
        return self.severity == "resolved"

    @property
    def digest(self) -> bool:
        return self.event == "digest"

    @property
    def page(self) -> bool:
        """An incident email that asks for attention (not a resolve, not a digest)."""
        return not self.resolved and not self.digest

    def names(self, words: Iterable[str]) -> list[str]:
        """The words that appear in both the subject and the text part (what a reader sees first)."""
        return [w for w in words if w in self.subject and w in self.text]

    def in_text(self, words: Iterable[str]) -> list[str]:
        """The words that appear in the text part (the findings list names every changed feature)."""
        return [w for w in words if w in self.text]


def mail_paths(folder: Path) -> list[Path]:
    """Complete messages only: the sink writes a temp file and renames it to ``*.eml``."""
    return sorted(folder.glob("*.eml")) if folder.is_dir() else []


def read_mail(path: Path) -> Mail:
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert isinstance(message, EmailMessage)  # policy.default builds EmailMessage objects
    part = message.get_body(preferencelist=("plain",))
    text = part.get_content() if part is not None else ""
    subject = " ".join(str(message.get("Subject") or "").split())  # unfold long subjects
    job = message.get("X-Mlmon-Job")
    if not job:
        found = _JOB_FOOTER.search(text)
        job = found.group(1) if found else None
    refs = str(message.get("References") or "").split()
    return Mail(
        path=path,
        subject=subject,
        text=text,
        severity=str(message.get("X-Mlmon-Severity") or ""),
        job=str(job) if job else None,
        message_id=str(message.get("Message-ID") or "").strip(),
        in_reply_to=str(message.get("In-Reply-To") or "").strip(),
        references=tuple(refs),
        incident=str(message.get("X-Mlmon-Incident") or ""),
        event=str(message.get("X-Mlmon-Event") or ""),
        kind=str(message.get("X-Mlmon-Kind") or ""),
    )


def read_new(folder: Path, seen: set[Path]) -> list[Mail]:
    """Messages in ``folder`` not in ``seen``; adds them to ``seen``."""
    new = [p for p in mail_paths(folder) if p not in seen]
    seen.update(new)
    return [read_mail(p) for p in new]
