"""Development stack: start the Catena sandbox and ``airflow standalone`` as child processes.

Not installed with the project; the demo script and the end-to-end tests put the repository root on
``sys.path`` and import it from there.
"""

from __future__ import annotations
