"""Small helpers shared by every layer (atomic file writes, YAML-backed dataclass configs)."""
