"""Grid-level link actions: bulk select, Assign Products, auto-map preview, undo (being built)."""
