"""Variations: where Catena's specs are ambiguous, or changed between versions, the sandbox plays every case.

Each knob is ``vary`` (the default) or one of its values. ``vary`` picks a value per fleet from a hash of
the fleet's ``fleet_ref`` and the knob's name, so one fleet always meets the same case (its REST reads and
its events agree, and a failing fleet_ref fails the same way on every run) while a run with several fleets
meets the others. Tests pin a knob through the admin API (``/sandbox/variations``) or the CLI.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Mapping
from dataclasses import dataclass

VARY = "vary"


@dataclass(frozen=True)
class Knob:
    values: tuple[str, ...]
    meaning: str


KNOBS: dict[str, Knob] = {
    "share_agreement_invitation_id": Knob(
        ("absent", "present", "null"),
        "share agreements (REST and events): no invitation_id (newest specs), the invitation's id (older specs "
        "and the newest example), or null",
    ),
    "share_agreement_fleet_ref": Knob(
        ("set", "null"),
        "share agreements (REST and events): fleet_ref is the fleet's ref, or null (set when the agreement is made)",
    ),
    "invitation_fleet_id": Knob(
        ("set", "null"),
        "invitation event records from invitation.accepted on: fleet_id is the fleet's id, or null (nullable)",
    ),
    "invitation_fleet_ref": Knob(("set", "null"), "invitation event records: fleet_ref is set, or null (nullable)"),
    "connection_fleet_ref": Knob(("set", "null"), "connections (REST): fleet_ref is the fleet's ref, or null"),
    "event_id_across_subscriptions": Knob(
        ("same", "different"),
        "one event delivered to several subscriptions carries the same envelope id in each, or a different one",
    ),
    "callback_secret_read": Knob(
        ("clear", "masked"),
        "reads of an invitation's callback_url subscriptions show their secret in clear, or ***** as other reads do",
    ),
    "invitation_created_on_refresh": Knob(
        ("emit", "skip"),
        "re-creating an active, accepted or declined invitation (a refresh) emits invitation.created again, or not",
    ),
    "share_agreement_event_scopes": Knob(
        ("levels", "with_nulls"),
        "share agreement events: scopes hold only read/read_write, or also null for resources not shared",
    ),
}


def check(settings: Mapping[str, str]) -> dict[str, str]:
    """``settings`` validated (ValueError names the knob and its values)."""
    checked = {}
    for name, value in settings.items():
        knob = KNOBS.get(name)
        if knob is None:
            raise ValueError(f"unknown variation {name!r}; known: {', '.join(KNOBS)}")
        if value != VARY and value not in knob.values:
            raise ValueError(f"variation {name} takes {VARY} or one of {', '.join(knob.values)}, not {value!r}")
        checked[name] = value
    return checked


def parse(text: str) -> dict[str, str]:
    """``knob=value,knob=value`` (the environment variable's form) as settings."""
    settings = {}
    for item in text.split(","):
        if not item.strip():
            continue
        name, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"a variation is knob=value, not {item!r}")
        settings[name.strip()] = value.strip()
    return check(settings)


def pick(knob: str, fleet_ref: str | None) -> str:
    """The value ``vary`` gives ``knob`` for this fleet (no fleet: the same value for every such event)."""
    values = KNOBS[knob].values
    digest = hashlib.sha256(f"{knob}:{fleet_ref or ''}".encode()).digest()
    return values[int.from_bytes(digest[:8], "big") % len(values)]


class Variations:
    """The knobs in force: start-up settings (CLI), changed at run time by the admin API."""

    def __init__(self, initial: Mapping[str, str] | None = None) -> None:
        self.initial = {name: VARY for name in KNOBS} | check(initial or {})
        self._settings = dict(self.initial)
        self._lock = threading.Lock()

    @property
    def settings(self) -> dict[str, str]:
        with self._lock:
            return dict(self._settings)

    def choose(self, knob: str, fleet_ref: str | None) -> str:
        setting = self._settings[knob]
        return pick(knob, fleet_ref) if setting == VARY else setting

    def resolved(self, fleet_ref: str | None) -> dict[str, str]:
        return {knob: self.choose(knob, fleet_ref) for knob in KNOBS}

    def update(self, changes: Mapping[str, str]) -> dict[str, str]:
        checked = check(changes)
        with self._lock:
            self._settings.update(checked)
            return dict(self._settings)

    def restore(self) -> dict[str, str]:
        """Back to the start-up settings."""
        with self._lock:
            self._settings = dict(self.initial)
            return dict(self._settings)

    def clear(self) -> dict[str, str]:
        """Every knob back to ``vary``."""
        with self._lock:
            self._settings = {name: VARY for name in KNOBS}
            return dict(self._settings)
