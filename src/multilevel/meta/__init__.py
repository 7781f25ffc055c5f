"""meta subpackage."""

__all__: list[str] = []
