"""Public landing pages the fleet's browser is redirected to by Catena Connect."""

from __future__ import annotations
