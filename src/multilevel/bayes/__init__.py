"""bayes subpackage."""

__all__: list[str] = []
