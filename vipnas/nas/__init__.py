"""Architecture search: budgets (MACs, parameters, measured latency), constrained sampling, candidate
evaluation, random and evolutionary search, Pareto fronts and export."""
