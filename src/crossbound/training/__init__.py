"""Training loops that several strategy families share."""
