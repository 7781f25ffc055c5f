"""ols subpackage."""

__all__: list[str] = []
