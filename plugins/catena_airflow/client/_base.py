"""Shared building blocks of the wire models: the forgiving base model, open enums, secrets."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, PlainSerializer, SecretStr, SerializationInfo

#: Serialization context that writes secrets in clear (request bodies, exact round trips).
REVEAL_SECRETS: dict[str, Any] = {"reveal_secrets": True}


def _serialize_secret(value: SecretStr, info: SerializationInfo) -> str:
    if info.context and info.context.get("reveal_secrets"):
        return value.get_secret_value()
    return str(value)


#: A secret on the wire: masked in repr/str/dumps, written in clear only with ``REVEAL_SECRETS``.
Secret = Annotated[SecretStr, PlainSerializer(_serialize_secret, return_type=str)]


def status_value(value: Any) -> str | None:
    """A status as Catena spells it (lower case), whether given as an enum member or a string; None stays None."""
    if value is None:
        return None
    return str(getattr(value, "value", value)).lower() or None


class CatenaModel(BaseModel):
    """Base of every Catena payload: unknown fields are kept, so a newer API never breaks parsing."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    def to_wire(self, *, exclude_unset: bool = False) -> dict[str, Any]:
        """The JSON object Catena sends or expects: wire names, secrets in clear, unknown fields kept."""
        return self.model_dump(mode="json", by_alias=True, exclude_unset=exclude_unset, context=REVEAL_SECRETS)


class OpenEnum(StrEnum):
    """A status enum that tolerates values it does not know yet (forward compatible).

    Matching is case-insensitive (an old SDK example shows ``ACCEPTED``); an unknown value becomes a
    pseudo-member that still compares equal to its string.
    """

    @classmethod
    def _missing_(cls, value: object) -> OpenEnum | None:
        if not isinstance(value, str):
            return None
        lowered = value.lower()
        for member in cls:
            if member.value == lowered:
                return member
        pseudo = str.__new__(cls, value)
        pseudo._name_ = value.upper()
        pseudo._value_ = value
        return pseudo

    @property
    def is_known(self) -> bool:
        """False for a value this client version has never heard of."""
        return self._name_ in type(self).__members__
