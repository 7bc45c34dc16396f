"""The ingestion pool (``[catena] ingestion_pool``): created by the api-server when it does not exist.

Why here and not in a task: Airflow 3 tasks have no access to the metadata database, and a task whose
pool does not exist is never scheduled (it waits silently). The api-server, which mounts this plugin and
owns the metadata database, creates the pool at start; an existing pool (resized by an operator) is left
as it is. Deployments that run without the plugin's api-server create it with
``airflow pools set catena_api 4 "Catena API: fleets loading at once"``.
"""

from __future__ import annotations

import logging

from catena_airflow import config

log = logging.getLogger(__name__)

POOL_DESCRIPTION = "Catena API: how many fleets load from Catena at once (catena_ingestion, onboarding loads)"


def ingestion_pool() -> str:
    return config.get_option("ingestion_pool") or "catena_api"


def ensure_ingestion_pool() -> bool:
    """Create the pool with ``[catena] ingestion_pool_slots`` slots if missing; True when this call created it."""
    from airflow.models.pool import Pool
    from airflow.utils.session import create_session
    from sqlalchemy.exc import IntegrityError

    name = ingestion_pool()
    try:
        with create_session() as session:
            if Pool.get_pool(name, session=session) is not None:
                return False
            session.add(
                Pool(
                    pool=name,
                    slots=config.get_int("ingestion_pool_slots"),
                    description=POOL_DESCRIPTION,
                    include_deferred=False,
                )
            )
    except IntegrityError:  # another api-server worker created it first
        return False
    log.info("Created Airflow pool %s with %d slots", name, config.get_int("ingestion_pool_slots"))
    return True


__all__ = ["POOL_DESCRIPTION", "ensure_ingestion_pool", "ingestion_pool"]
