"""The append-only audit trail: the lowest layer of the register; everything
else writes to it, and it imports nothing of the other concerns."""
