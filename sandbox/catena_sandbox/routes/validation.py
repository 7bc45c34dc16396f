"""Field rules of Catena's request bodies that pydantic's plain types do not express."""

from __future__ import annotations

import re
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator

FLEET_REF = re.compile(r"^[A-Za-z0-9 _-]+$")
FLEET_NAME = re.compile(r"^[A-Za-z0-9 ]+$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
COUNTRY = re.compile(r"^\w{3}$")


def _url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or not 1 <= len(value) <= 2083:
        raise ValueError("must be an http(s) URL of 1 to 2083 characters")
    return value


def _pattern(regex: re.Pattern[str], what: str):  # type: ignore[no-untyped-def]
    def check(value: str) -> str:
        if not regex.match(value):
            raise ValueError(what)
        return value

    return check


Url = Annotated[str, AfterValidator(_url)]
FleetRef = Annotated[str, AfterValidator(_pattern(FLEET_REF, "may contain only letters, digits, spaces, - and _"))]
FleetName = Annotated[str, AfterValidator(_pattern(FLEET_NAME, "may contain only letters, digits and spaces"))]
Email = Annotated[str, AfterValidator(_pattern(EMAIL, "must be an e-mail address"))]
CountryCode = Annotated[str, AfterValidator(_pattern(COUNTRY, "must be a 3-letter country code"))]
