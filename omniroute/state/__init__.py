"""Cross-request state behind one interface (in-process now, Redis for several instances)."""

from omniroute.state.base import SharedState
from omniroute.state.memory import MemoryState

__all__ = ["SharedState", "MemoryState"]
