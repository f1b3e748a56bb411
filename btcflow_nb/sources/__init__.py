"""Everything that touches the network or the disk (placeholder; filled in below)."""
