"""The receiver's start-up check of its inbox: a bad configuration is an ERROR and an unhealthy receiver.

Without it, a receiver whose inbox cannot work (its driver missing, its database unreachable, or a
SQLite file that workers on other machines cannot see) starts, looks healthy, and answers 503 to every
webhook. The check runs once at start-up (the standalone app's and the plugin app's lifespan); its
result is what the health routes report. A configuration problem stays until a restart, and the receiver
refuses deliveries meanwhile (503: Catena retries, then keeps them for replay); an unreachable database is
probed again by each health request, so the receiver becomes healthy when the database comes back.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

log = logging.getLogger(__name__)

#: Executors whose tasks all run on the scheduler's machine, where a SQLite file is shared.
LOCAL_EXECUTORS = frozenset({"LocalExecutor", "SequentialExecutor", "DebugExecutor"})


class ProblemKind(StrEnum):
    DRIVER = "driver"
    UNREACHABLE = "unreachable"
    SQLITE_NOT_SHARED = "sqlite_not_shared"


@dataclass(frozen=True, kw_only=True)
class InboxProblem:
    """Why the receiver cannot commit webhooks; ``reason`` names no URL or secret (it is served publicly)."""

    kind: ProblemKind
    reason: str

    @property
    def is_configuration(self) -> bool:
        """Fixed only by changing the configuration and restarting (not by waiting)."""
        return self.kind is not ProblemKind.UNREACHABLE


def configured_executors() -> list[str]:
    """Class names of ``[core] executor`` (a comma list; entries ``alias:module.Class`` or ``Class``)."""
    from airflow.configuration import conf

    names = []
    for entry in (conf.get("core", "executor", fallback="") or "").split(","):
        path = entry.strip().rpartition(":")[2]
        if path:
            names.append(path.rpartition(".")[2])
    return names


def sqlite_problem(url: str, executors: list[str]) -> InboxProblem | None:
    """A SQLite inbox under an executor that runs tasks on other machines: they would not see its file."""
    distributed = [name for name in executors if name not in LOCAL_EXECUTORS]
    if make_url(url).get_backend_name() != "sqlite" or not distributed:
        return None
    return InboxProblem(
        kind=ProblemKind.SQLITE_NOT_SHARED,
        reason=f"the inbox is a SQLite file, which {', '.join(distributed)} workers and triggerers on other "
        "machines cannot see: set [catena] inbox_url to a PostgreSQL database",
    )


def classify(exc: BaseException) -> InboxProblem:
    """The problem an exception from creating or migrating the inbox store means."""
    if isinstance(exc, (ImportError, NoSuchModuleError, ArgumentError, ValueError)):
        detail = exc.name if isinstance(exc, ImportError) and exc.name else type(exc).__name__
        return InboxProblem(
            kind=ProblemKind.DRIVER,
            reason=f"the inbox database driver is missing or not supported ({detail}): install the "
            "'postgres' extra and use postgresql:// or postgresql+psycopg2://",
        )
    return InboxProblem(
        kind=ProblemKind.UNREACHABLE,
        reason=f"the inbox database cannot be reached or migrated ({type(exc).__name__})",
    )


def log_problem(problem: InboxProblem | None) -> None:
    if problem is None:
        log.info("Catena webhook receiver: inbox checked at start-up, ready")
    elif problem.is_configuration:
        log.error("Catena webhook receiver cannot accept webhooks: %s. Deliveries are answered 503.", problem.reason)
    else:
        log.error("Catena webhook receiver: %s; deliveries are answered 503 until it answers.", problem.reason)
