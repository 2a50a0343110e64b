"""Dependencies of the notifications routes."""

# Re-exported, so a service's routes take every dependency from its own deps.py.
from shared.deps import Db as Db
