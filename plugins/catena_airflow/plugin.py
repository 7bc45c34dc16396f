from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from catena_airflow.app import create_plugin_app
from catena_airflow.operators.invitation import CatenaMagicLink
from catena_airflow.webhooks.tuning import tune_gc_if_requested


class CatenaPlugin(AirflowPlugin):
    """Mounts the webhook receiver, fleet redirect pages and onboarding dashboard in the api-server."""

    name = "catena"
    fastapi_apps = [
        {"app": create_plugin_app(), "url_prefix": "/catena", "name": "Catena Telematics"},
    ]
    external_views = [
        {
            "name": "Catena fleets",
            "href": "/catena/ui",
            "destination": "nav",
            "url_route": "catena-fleets",
            "icon": "/catena/ui/icon.svg",
            "icon_dark_mode": "/catena/ui/icon-dark.svg",
            "nav_top_level": True,
        },
    ]
    operator_extra_links = [CatenaMagicLink()]  # the invitation operator's "Catena magic link" button


# Opt-in (CATENA_TUNE_GC=true): the api-server loads plugins once its imports are done (webhooks/tuning.py).
tune_gc_if_requested()
