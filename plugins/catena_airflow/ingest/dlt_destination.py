"""Where dlt loads and where it keeps its state, from configuration only.

A destination is given as a URL or a dlt destination name, so one setting (an Airflow connection, or
``CATENA_DLT_DESTINATION``) covers the embedded default and production alike:

- ``duckdb:////abs/path/file.duckdb``: DuckDB file (the default: ``$AIRFLOW_HOME/catena_data.duckdb``, a
  file a user can open and query);
- ``postgresql://...`` (also ``postgres://``, ``postgresql+psycopg2://``): PostgreSQL, the URL complete as
  given (no password in it: none is sent);
- a bare dlt destination name (``bigquery``, ``snowflake``, ``filesystem``, ``postgres``, ...): that
  destination with its credentials from dlt's standard configuration (``DESTINATION__<NAME>__...``
  environment variables or ``.dlt/secrets.toml``), never from code.

dlt's own state (extracted files, schemas, incremental cursors before they reach the destination) goes
to ``pipelines_dir``: ``CATENA_DLT_PIPELINES_DIR``, else ``$AIRFLOW_HOME/dlt/pipelines``; never
``~/.dlt``, which on a worker is nobody's and is shared by every process of the user.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

DESTINATION_ENV = "CATENA_DLT_DESTINATION"
PIPELINES_DIR_ENV = "CATENA_DLT_PIPELINES_DIR"
DUCKDB_FILE_NAME = "catena_data.duckdb"
POSTGRES_SCHEMES = ("postgresql", "postgres", "postgresql+psycopg2")
DEFAULT_DATASET = "catena"
#: The file format dlt writes loads in, where it is not dlt's preferred one for the destination.
LOADER_FILE_FORMATS = {"duckdb": "jsonl"}
#: DuckDB's own default is 80 % of the machine's memory, and merging a load into a table reads that table
#: through its buffer pool: a task's memory would grow with the warehouse. Above this it evicts or spills.
#: At 256 MB a fleet's load into a 1,000,000-row table peaked at 480 MiB RSS; at 128 MB at 357 MiB, its
#: load step no slower (57 s against 60 s for 50 fleets, benchmarks/RESULTS.md).
DUCKDB_MEMORY_LIMIT = "128MB"


def airflow_home() -> Path:
    return Path(os.environ.get("AIRFLOW_HOME") or Path.home() / "airflow").resolve()


def default_destination() -> str:
    """``CATENA_DLT_DESTINATION``, else the DuckDB file under ``AIRFLOW_HOME``."""
    return os.environ.get(DESTINATION_ENV) or f"duckdb:///{airflow_home() / DUCKDB_FILE_NAME}"


def default_pipelines_dir() -> Path:
    """``CATENA_DLT_PIPELINES_DIR``, else ``$AIRFLOW_HOME/dlt/pipelines``."""
    configured = os.environ.get(PIPELINES_DIR_ENV)
    return Path(configured).resolve() if configured else airflow_home() / "dlt" / "pipelines"


@dataclass(frozen=True, kw_only=True)
class LoadSettings:
    """Where one fleet's load goes. ``destination``: URL or dlt destination name (``dlt_destination``)."""

    destination: str = field(default_factory=default_destination)
    pipelines_dir: Path = field(default_factory=default_pipelines_dir)
    dataset_name: str = DEFAULT_DATASET


def duckdb_file(spec: str) -> Path | None:
    """The DuckDB file a ``duckdb:///`` destination names, else ``None``."""
    text = spec.strip()
    return Path(text[len("duckdb:///") :]) if text.startswith("duckdb:///") and len(text) > len("duckdb:///") else None


def postgres_url(spec: str) -> str | None:
    """The libpq URL of a PostgreSQL destination URL (any of ``POSTGRES_SCHEMES``), else ``None``."""
    text = spec.strip()
    scheme, separator, rest = text.partition("://")
    return "postgresql://" + rest if separator and scheme in POSTGRES_SCHEMES else None


def postgres_credentials(url: str) -> Any:
    """dlt's credentials of a PostgreSQL URL, complete as given.

    dlt requires a password; a URL without one (trust or peer auth, ``~/.pgpass``) gets an empty one,
    which libpq takes as none given.
    """
    from dlt.destinations.impl.postgres.configuration import PostgresCredentials

    credentials = PostgresCredentials()
    credentials.parse_native_representation(postgres_url(url) or url)
    if credentials.password is None:
        credentials.password = ""
    credentials.resolve()
    return credentials


def dlt_destination(spec: str, *, staging_dataset_layout: str | None = None) -> Any:
    """The dlt destination a URL or destination name stands for (see the module docstring).

    ``staging_dataset_layout``: dlt's ``staging_dataset_name_layout`` for a destination named (not a URL):
    where its loads cannot take turns, each fleet stages apart (``load_turns``).
    """
    from dlt.common.destination import Destination
    from dlt.destinations import duckdb, postgres
    from dlt.destinations.impl.duckdb.configuration import DuckDbCredentials

    text = spec.strip()
    if not text:
        raise ValueError("an empty destination: give a URL (duckdb:///..., postgresql://...) or a dlt destination name")
    scheme = urlsplit(text).scheme if "://" in text else ""
    if scheme == "duckdb":
        path = duckdb_file(text)
        if path is None:
            raise ValueError(f"a DuckDB destination needs a file: duckdb:////absolute/path.duckdb, got {spec!r}")
        path.parent.mkdir(parents=True, exist_ok=True)
        # jsonl, not dlt's preferred insert_values: DuckDB parses a load's INSERT ... VALUES as one
        # statement; a fleet's 20,000 locations took 18-20 s to load that way and 2.3 GiB of RSS, as
        # jsonl 1-1.4 s and 360 MiB, the same rows and types (benchmarks/ingest_load.py). Parquet would
        # need pyarrow.
        credentials = DuckDbCredentials(str(path), global_config={"memory_limit": DUCKDB_MEMORY_LIMIT})
        return duckdb(credentials=credentials, preferred_loader_file_format=LOADER_FILE_FORMATS["duckdb"])
    if scheme in POSTGRES_SCHEMES:
        return postgres(credentials=postgres_credentials(text))
    if scheme:
        raise ValueError(f"unsupported destination URL scheme {scheme!r}: use a dlt destination name instead")
    if staging_dataset_layout is not None:
        return Destination.from_reference(text, staging_dataset_name_layout=staging_dataset_layout)
    return Destination.from_reference(text)


__all__ = [
    "DEFAULT_DATASET",
    "DESTINATION_ENV",
    "PIPELINES_DIR_ENV",
    "LoadSettings",
    "default_destination",
    "default_pipelines_dir",
    "dlt_destination",
    "duckdb_file",
    "postgres_credentials",
    "postgres_url",
]
