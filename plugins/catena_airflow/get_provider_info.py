from __future__ import annotations

from typing import Any

from catena_airflow import __version__
from catena_airflow.config.options import provider_config


def get_provider_info() -> dict[str, Any]:
    """Provider metadata read by Airflow's ProvidersManager (entry point ``apache_airflow_provider``)."""
    return {
        "package-name": "catena-airflow",
        "name": "Catena Telematics",
        "description": "Onboard trucking fleets onto `Catena Telematics <https://catenatelematics.com>`__.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": "Catena Telematics",
                "external-doc-url": "https://docs.catenatelematics.com",
                "tags": ["service"],
            }
        ],
        "connection-types": [
            {
                "connection-type": "catena",
                "hook-class-name": "catena_airflow.hooks.catena.CatenaHook",
                "hook-name": "Catena Telematics",
                "conn-fields": {
                    "auth_url": {
                        "label": "Auth URL",
                        "description": "OAuth2 token endpoint (client credentials).",
                        "schema": {"type": ["string", "null"], "format": "uri"},
                    },
                    "webhook_secrets": {
                        "label": "Webhook signing secrets",
                        "description": "Comma-separated; more than one during a rotation.",
                        # A password field: masked in the form, and Airflow redacts it from logs.
                        "schema": {"type": ["string", "null"], "format": "password"},
                    },
                    "share_agreements_path": {
                        "label": "Share agreements path",
                        "description": "share-agreements (current docs) or share_agreements (older API).",
                        "schema": {"type": ["string", "null"], "enum": ["share-agreements", "share_agreements", None]},
                    },
                },
                "ui-field-behaviour": {
                    "hidden-fields": ["schema", "port"],
                    "relabeling": {"login": "Client ID", "password": "Client secret", "host": "API URL"},
                    "placeholders": {
                        "host": "https://api.catenatelematics.com",
                        "auth_url": "https://auth.catenatelematics.com/realms/catena/protocol/openid-connect/token",
                    },
                },
            }
        ],
        "hooks": [
            {
                "integration-name": "Catena Telematics",
                "python-modules": [
                    "catena_airflow.hooks.catena",
                    "catena_airflow.hooks.inbox",
                ],
            }
        ],
        "operators": [
            {
                "integration-name": "Catena Telematics",
                "python-modules": [
                    "catena_airflow.operators.invitation",
                    "catena_airflow.operators.webhooks",
                    "catena_airflow.operators.ingest",
                    "catena_airflow.operators.operations",
                ],
            }
        ],
        "sensors": [
            {"integration-name": "Catena Telematics", "python-modules": ["catena_airflow.sensors.fleet_connected"]}
        ],
        "triggers": [
            {
                "integration-name": "Catena Telematics",
                "python-modules": [
                    "catena_airflow.triggers.fleet_connected",
                    "catena_airflow.triggers.inbox_events",
                ],
            }
        ],
        "notifications": ["catena_airflow.notifications.catena.CatenaLogNotifier"],
        "config": provider_config(),
        "plugins": [{"name": "catena", "plugin-class": "catena_airflow.plugin.CatenaPlugin"}],
    }
