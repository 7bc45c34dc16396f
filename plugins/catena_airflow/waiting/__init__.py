"""How deferred tasks wait on the inbox: the machinery the triggers and the onboarding sensor share.

``triggers/`` holds only Airflow triggers (what the triggerer runs). What they wait with lives here: one
shared inbox poller per event loop (``shared_poller``), woken by PostgreSQL ``LISTEN`` (``inbox_listener``),
a REST reconciliation so a lost webhook cannot hang a wait (``reconcile``), and what an onboarding's state
means for its waiting task (``onboarding_outcome``).
"""

from __future__ import annotations
