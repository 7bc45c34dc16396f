from __future__ import annotations

import importlib
import json
from importlib.metadata import entry_points
from pathlib import Path

import airflow
import jsonschema

from catena_airflow.get_provider_info import get_provider_info


def test_provider_info_matches_airflow_schema():
    schema = json.loads((Path(airflow.__file__).parent / "provider_info.schema.json").read_text())
    jsonschema.validate(get_provider_info(), schema)


def test_entry_points_are_registered():
    providers = {ep.value for ep in entry_points(group="apache_airflow_provider")}
    plugins = {ep.value for ep in entry_points(group="airflow.plugins")}
    assert "catena_airflow.get_provider_info:get_provider_info" in providers
    assert "catena_airflow.plugin:CatenaPlugin" in plugins


def test_declared_classes_import():
    info = get_provider_info()
    for conn_type in info["connection-types"]:
        module, _, name = conn_type["hook-class-name"].rpartition(".")
        assert getattr(importlib.import_module(module), name)
    for kind in ("hooks", "operators", "sensors", "triggers"):
        for entry in info[kind]:
            for module in entry["python-modules"]:
                importlib.import_module(module)
    for plugin in info["plugins"]:
        module, _, name = plugin["plugin-class"].rpartition(".")
        assert getattr(importlib.import_module(module), name).name == plugin["name"]
