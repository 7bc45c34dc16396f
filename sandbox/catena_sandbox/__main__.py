from __future__ import annotations

import sys

from catena_sandbox.cli import main

sys.exit(main())
