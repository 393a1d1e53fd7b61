"""Portals: server-to-server links (topology, protocol, sessions)."""
