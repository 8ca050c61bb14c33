"""The sync layer: HTTP, scheduling, disk cache, metrics and events that feed the engine."""
