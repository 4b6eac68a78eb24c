"""What every domain and transport shares: errors (more of the platform moves here later)."""
