"""adlab: the experiment lab for visual anomaly-detection research."""
from adlab import _malloc  # noqa: F401  (must run before torch is imported anywhere)

__version__ = "0.1.0"
