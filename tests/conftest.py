import os
import sys
from pathlib import Path

import matplotlib

sys.path.insert(0, str(Path(__file__).resolve().parent / "services"))

from postgres import postgres_server, postgres_url  # noqa: E402,F401  (fixtures: a PostgreSQL server)

# Tests draw figures without a screen.
matplotlib.use("Agg")
os.environ.setdefault("MPLBACKEND", "Agg")
