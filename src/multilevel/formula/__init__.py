"""formula subpackage."""

__all__: list[str] = []
