"""Crafted score arrays for the relevance floor, shared by the Python and the site's tests.

Each scenario gives, per case study, the fused score, the best passage's cosine (dense) and the
lexical coverage, and which hits must be weak under DEFAULT_FUSION's floor.
"""

from __future__ import annotations

from typing import Any

from kb.search.params import DEFAULT_FUSION

_F = DEFAULT_FUSION
LOW_DENSE = _F.floor_dense - 0.05
LOW_COVERAGE = _F.floor_coverage - 0.05
HIGH = _F.floor_guard + 0.1
UNDER = _F.floor_guard - 0.1


def scenarios() -> list[dict[str, Any]]:
    """Three case studies each: (score, dense, coverage) per case, and the weak ones by index."""
    return [
        {   # the best hit is strong: a below-floor hit that scores near it is a good match
            "name": "strong best hit",
            "score": [1.0, HIGH, UNDER],
            "dense": [_F.floor_dense + 0.1, LOW_DENSE, LOW_DENSE],
            "coverage": [0.9, LOW_COVERAGE, LOW_COVERAGE],
            "weak": [2],
        },
        {   # nothing is above the floor: every hit is weak, however it scores against the rest
            "name": "no good match",
            "score": [1.0, HIGH, UNDER],
            "dense": [LOW_DENSE, LOW_DENSE, LOW_DENSE],
            "coverage": [LOW_COVERAGE, LOW_COVERAGE, LOW_COVERAGE],
            "weak": [0, 1, 2],
        },
        {   # above the floor on coverage alone is above it
            "name": "words carry it",
            "score": [1.0, UNDER, UNDER - 0.1],
            "dense": [LOW_DENSE, LOW_DENSE, LOW_DENSE],
            "coverage": [LOW_COVERAGE, _F.floor_coverage + 0.1, LOW_COVERAGE],
            "weak": [0, 2],
        },
    ]
