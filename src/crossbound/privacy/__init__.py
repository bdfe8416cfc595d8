"""privacy: filled in by later work (see DESIGN.md)."""
