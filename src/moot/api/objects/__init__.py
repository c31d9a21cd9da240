"""The declared API object types, one module per family of the reference."""
