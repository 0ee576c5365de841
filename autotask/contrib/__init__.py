"""Adapters to other systems, each imported only when configured."""
