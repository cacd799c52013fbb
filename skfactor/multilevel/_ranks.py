r"""Rank allocation across the levels under a total budget (``ranks="auto"``).

Every feature loads on one group per level, so a model with ranks
:math:`r_1, \dots, r_L` stores :math:`n (r_1 + \dots + r_L)` loadings, as a
factor model of rank :math:`r = \sum_l r_l`: the budget is this total rank
(``n_factors``), the storage-preserving total rank of Parshakova, Hastie,
Darve and Boyd, "Factor Fitting, Rank Allocation, and Partitioning in
Multilevel Low Rank Matrices" (2023), who reallocate a fixed total rank by
rank exchanges lowering a Frobenius error. Here, given a score
:math:`s(r_1, \dots, r_L)` (the held-out log-likelihood of a short EM fit
on a training split), the allocation is greedy on the gain per rank:

.. math::

    r^{(0)} = (1, \dots, 1), \qquad
    r^{(k+1)} = r^{(k)} + \delta\, e_{l^*}, \quad
    l^* = \arg\max_l \; s(r^{(k)} + \delta\, e_l),

with step :math:`\delta = \lceil (\text{budget} - L) / \text{max\_rounds}
\rceil` (1 for small budgets, capped by what is left), stopping when the
budget is spent or when no increment raises the score. Greedy increments
commit early: a rank given to a level while the coarser ones were still
short may be worth more elsewhere once they have theirs. The allocation is
then refined by the paper's own move, rank exchanges: one rank moved from a
level to another, and by dropping one rank, the best such move taken while
it raises the score (a rank given early on a noisy gain can be worth less
than nothing once the other levels have theirs). Every level keeps at least
one factor, so the budget must be at least the number of levels.
"""

from math import ceil

__all__ = ["allocate_ranks", "even_ranks"]


def check_budget(n_factors, n_levels):
    """Raise a clear error if the budget cannot give every level a factor."""
    if n_factors is None:
        raise ValueError(
            "ranks='auto' allocates a total rank budget across the levels: set "
            "n_factors (the total number of factors of every feature, "
            "r_1 + ... + r_L)."
        )
    if n_factors < n_levels:
        raise ValueError(
            f"n_factors={n_factors} is smaller than the number of levels "
            f"({n_levels}): ranks='auto' gives every level at least one factor."
        )


def even_ranks(n_factors, n_levels):
    """The budget split as evenly as possible, the coarsest levels first."""
    base, extra = divmod(n_factors, n_levels)
    return tuple(base + (level < extra) for level in range(n_levels))


def allocate_ranks(score, n_levels, n_factors, max_rounds=16):
    """Ranks of ``n_levels`` levels within ``n_factors``: greedy, then exchanges.

    Parameters
    ----------
    score : callable
        ``score(ranks) -> float``, higher is better (held-out
        log-likelihood); called once per candidate.
    n_levels : int
    n_factors : int
        Total budget, at least ``n_levels``.
    max_rounds : int, default=16
        Number of greedy rounds the budget is spread over (the step size).

    Returns
    -------
    ranks : tuple of int
        Sums to at most ``n_factors``, every entry at least 1.
    history : list of (tuple, float)
        Every candidate scored, in order (greedy increments, then exchanges).
    """
    check_budget(n_factors, n_levels)
    ranks = (1,) * n_levels
    best = score(ranks)
    history = [(ranks, best)]
    step = max(1, ceil((n_factors - n_levels) / max_rounds))
    while sum(ranks) < n_factors:
        delta = min(step, n_factors - sum(ranks))
        candidates = []
        for level in range(n_levels):
            candidate = tuple(
                rank + delta * (j == level) for j, rank in enumerate(ranks)
            )
            value = score(candidate)
            history.append((candidate, value))
            candidates.append((value, -level, candidate))
        value, _, candidate = max(candidates)
        if not value > best:
            if delta > 1:  # a smaller step may still help
                step = max(1, delta // 2)
                continue
            break
        best, ranks = value, candidate
    return _exchange(score, ranks, best, history, max_rounds)


def _exchange(score, ranks, best, history, max_rounds):
    """Move one rank between two levels, or drop one, while the best such
    move gains (a rank given early on a noisy gain can be worth nothing
    once the other levels have theirs)."""
    scored = dict(history)
    for _ in range(max_rounds):
        candidates = []
        for source, rank in enumerate(ranks):
            if rank == 1:
                continue
            for target in range(-1, len(ranks)):  # -1: the rank is dropped
                if target == source:
                    continue
                candidate = list(ranks)
                candidate[source] -= 1
                if target >= 0:
                    candidate[target] += 1
                candidate = tuple(candidate)
                if candidate not in scored:
                    scored[candidate] = score(candidate)
                    history.append((candidate, scored[candidate]))
                candidates.append((scored[candidate], candidate))
        if not candidates:
            break
        value, candidate = max(candidates)
        if not value > best:
            break
        best, ranks = value, candidate
    return ranks, history
