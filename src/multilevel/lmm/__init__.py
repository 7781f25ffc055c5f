"""lmm subpackage."""

__all__: list[str] = []
