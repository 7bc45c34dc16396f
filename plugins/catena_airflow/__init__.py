"""Catena Telematics provider for Apache Airflow: client, inbox, webhook receiver and Airflow layer."""

from __future__ import annotations

__version__ = "0.1.0"
