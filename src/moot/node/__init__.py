"""The node: data dir, node config, components and their supervisor."""
