"""HTTP routes, one module per Catena service plus the sandbox's own admin API and Connect page."""

from __future__ import annotations
