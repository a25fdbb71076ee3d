"""Cross-request state behind one interface: in-process (``MemoryState``), or Redis (``state.redis``)
for several instances acting as one."""

from omniroute.state.base import SharedState
from omniroute.state.memory import MemoryState

__all__ = ["SharedState", "MemoryState"]
