"""Every setting the code reads is declared in the provider's ``[catena]`` section (so Airflow knows it)."""

from __future__ import annotations

import re
from pathlib import Path

from catena_airflow import config
from catena_airflow.get_provider_info import get_provider_info

ROOT = Path(__file__).resolve().parents[3]
SOURCES = [*(ROOT / "plugins" / "catena_airflow").rglob("*.py"), *(ROOT / "dags").glob("*.py")]

# config.get_option("key"), config.get_int("key"), ...; conf.get("catena", "key") and conf.get(SECTION, "key")
_RESOLVER_READ = re.compile(r"\bget_(?:option|int|float|bool)\(\s*\"([a-z_]+)\"")
_CONF_READ = re.compile(r"conf\.get\w*\(\s*(?:'catena'|\"catena\"|SECTION)\s*,\s*['\"]([a-z_]+)['\"]")
_ENV_READ = re.compile(r"os\.environ(?:\.get\(|\[)\s*\"(CATENA_[A-Z_]+)\"")


def _reads(pattern: re.Pattern[str]) -> set[str]:
    return {key for path in SOURCES for key in pattern.findall(path.read_text())}


def test_every_option_read_is_declared():
    read = _reads(_RESOLVER_READ) | _reads(_CONF_READ)
    assert read, "the scan found no reads: the patterns are stale"
    assert read <= set(config.OPTION_BY_KEY), read - set(config.OPTION_BY_KEY)


def test_every_environment_variable_read_is_a_declared_alias():
    aliases = {option.alias for option in config.OPTIONS if option.alias}
    assert _reads(_ENV_READ) <= aliases


def test_provider_info_declares_the_section():
    options = get_provider_info()["config"]["catena"]["options"]
    assert set(options) == set(config.OPTION_BY_KEY)
    for key, option in options.items():
        declared = config.OPTION_BY_KEY[key]
        assert option["sensitive"] == declared.sensitive
        if declared.alias:  # Airflow must not answer with a default, or the alias would never be read
            assert option["default"] is None and declared.alias in option["description"]
