"""Scoring's arithmetic made cheap stays the arithmetic it replaced: the same floats, the same grades."""

from __future__ import annotations

import random

from mais_node.matching import scoring
from mais_node.matching.grades import Grade


def test_the_weighted_sum_is_the_features_summed_in_the_weights_order_bit_for_bit() -> None:
    rng = random.Random(17)
    values = (0.0, 0.3, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 1.0)
    for _ in range(5_000):
        names = ("family", "given", "birth_date", "postcode", "gender")  # the order ``score`` builds them in
        features = {name: rng.choice(values) if rng.random() < 0.5 else rng.random() for name in names}
        summed = 0.0  # what ``sum`` over the dict did on Python 3.11: left to right, no compensation
        for name, value in features.items():
            summed += scoring.WEIGHTS[name] * value
        assert scoring._weighted(*features.values()) == summed


def test_a_rank_names_its_grade() -> None:
    for grade in Grade:
        assert scoring._GRADES[grade.rank] is grade
