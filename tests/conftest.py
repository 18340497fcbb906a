import os

import matplotlib

# Tests draw figures without a screen.
matplotlib.use("Agg")
os.environ.setdefault("MPLBACKEND", "Agg")
