"""Live-data views for notebooks: `CoverageChart` (which venue has what, from when to when)."""
from .coverage import CoverageChart

__all__ = ["CoverageChart"]
