"""Storage: the resource store port and its SQLite and MongoDB adapters (DESIGN §8)."""
