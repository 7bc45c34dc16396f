"""Catena's ``[catena]`` configuration section: declared in ``options``, read through ``resolver``."""

from __future__ import annotations

from catena_airflow.config.options import OPTION_BY_KEY, OPTIONS, SECTION, Option, provider_config
from catena_airflow.config.resolver import (
    dlt_pipelines_dir,
    get_bool,
    get_float,
    get_int,
    get_option,
    inbox_fernet_key,
    inbox_url,
    receiver_url,
    warehouse,
    webhook_secrets,
)

__all__ = [
    "OPTIONS",
    "OPTION_BY_KEY",
    "SECTION",
    "Option",
    "dlt_pipelines_dir",
    "get_bool",
    "get_float",
    "get_int",
    "get_option",
    "inbox_fernet_key",
    "inbox_url",
    "provider_config",
    "receiver_url",
    "warehouse",
    "webhook_secrets",
]
