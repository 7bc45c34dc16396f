"""Changes made on demand (admin API): the TSP corrects or deletes chosen records now.

Besides the changes that come with sandbox time (changes.py), a test or a benchmark can ask for "1 % of
this fleet's vehicle locations of the last day changed now" and learn exactly which records changed. Only
the edited records are stored (id -> edit), so a million untouched rows still cost nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from catena_sandbox.telematics.changes import State


@dataclass(frozen=True)
class Edit:
    at: datetime
    revisions: int = 1
    deleted: bool = False


def apply(state: State, edit: Edit | None) -> State:
    """``state`` after ``edit`` (the latest of the two updates wins; a deletion stays)."""
    if edit is None:
        return state
    deleted_at = state.deleted_at or (edit.at if edit.deleted else None)
    return replace(
        state,
        revision=state.revision + edit.revisions,
        updated_at=max(state.updated_at, edit.at),
        deleted_at=deleted_at,
    )


def note(edits: dict[str, Edit], record_id: str, at: datetime, *, delete: bool) -> None:
    """Edit ``record_id`` at ``at`` (again: one more revision)."""
    before = edits.get(record_id)
    revisions = 1 + (before.revisions if before else 0)
    edits[record_id] = Edit(at=at, revisions=revisions, deleted=delete or bool(before and before.deleted))
