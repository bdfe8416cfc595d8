"""The benchmark, the budget planner and the report.

``cells`` enumerates strategy × setting cells from the registries, ``run`` runs them
resumably into ``OUT/cells/``, ``normalise`` turns each ``result.json`` into the comparable
record the planner reads, ``plan`` answers the budgets, ``report`` writes ``report.html``.
Import the submodules you need; this package imports nothing heavy by itself.
"""
