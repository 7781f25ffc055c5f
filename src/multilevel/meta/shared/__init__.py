"""Input handling and printing shared by the meta-analysis models.

``_input`` reads effect sizes (``yi``, ``vi`` or ``sei``) and moderators with metafor's
rules; ``_format`` reproduces metafor's number formatting and printed blocks; ``_roots``
is the root finder of the profile intervals.
"""
