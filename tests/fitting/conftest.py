"""Makes the synthetic raw-file helpers importable by the fitting tests."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
