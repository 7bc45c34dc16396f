"""Operational alerts (stale connection, failing or deactivated schedule) through Airflow notifiers.

Handlers put the alert in the context as ``catena_alert`` and call the configured notifier, so any
``BaseNotifier`` (Slack, SMTP, ...) can be used with a template such as ``{{ catena_alert.text }}``.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from importlib import import_module
from typing import Any

from airflow.sdk import BaseNotifier

log = logging.getLogger(__name__)

DEFAULT_NOTIFIER = "catena_airflow.notifications.catena.CatenaLogNotifier"


@dataclass(frozen=True)
class CatenaAlert:
    """One thing a person should know about: what happened, to which fleet, and what to do."""

    kind: str
    title: str
    text: str
    severity: str = "warning"
    fleet_id: str | None = None
    fleet_ref: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "details": dict(self.details)}


class CatenaLogNotifier(BaseNotifier):
    """Writes the alert to the task log (the default notifier: needs no outside service).

    :param message: Jinja template of the line written; ``catena_alert`` is in the context.
    """

    template_fields: Sequence[str] = ("message",)

    def __init__(
        self,
        *,
        message: str = "[{{ catena_alert.severity }}] {{ catena_alert.title }}: {{ catena_alert.text }}",
    ) -> None:
        super().__init__()
        self.message = message

    def notify(self, context: Any) -> None:
        alert = context.get("catena_alert") or {}
        level = logging.ERROR if alert.get("severity") == "error" else logging.WARNING
        log.log(level, "Catena alert: %s", self.message)


def load_notifier(path: str | None = None, kwargs: Mapping[str, Any] | None = None) -> BaseNotifier:
    """Instantiate the notifier class at dotted ``path`` (default: the log notifier)."""
    module_name, _, class_name = (path or DEFAULT_NOTIFIER).rpartition(".")
    if not module_name:
        raise ValueError(f"notifier must be a dotted path like package.module.Class, got {path!r}")
    cls = getattr(import_module(module_name), class_name, None)
    if not (isinstance(cls, type) and issubclass(cls, BaseNotifier)):
        raise TypeError(f"{path!r} is not a BaseNotifier subclass")
    return cls(**dict(kwargs or {}))


def send_alert(notifier: BaseNotifier, context: Mapping[str, Any], alert: CatenaAlert) -> None:
    """Render the notifier's templates with ``catena_alert`` in the context, then notify.

    Rendering is in place and irreversible, so each alert goes through a copy of the notifier.
    """
    copy.deepcopy(notifier)({**context, "catena_alert": alert.as_dict()})
