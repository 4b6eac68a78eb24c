"""Corporate-number (法人番号) data, its import and its public API (built in the corporate issue)."""
