"""Enlace adapters: sources that feed the hub and sinks that deliver into national systems."""
