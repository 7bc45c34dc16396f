"""Building blocks of the project's DAGs (params, task groups), so the DAG files stay thin."""

from __future__ import annotations
