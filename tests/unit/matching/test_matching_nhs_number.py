"""NHS number Modulus 11 check."""

import pytest

from mais_node.matching import nhs_number_valid
from mais_node.matching.nhs_number import nhs_number_check_digit


@pytest.mark.parametrize("value", ["9434765919", "9990000018", "4010232137"])
def test_numbers_with_the_right_check_digit_are_valid(value: str) -> None:
    assert nhs_number_valid(value)


@pytest.mark.parametrize(
    "value",
    ["9434765918", "943476591", "94347659190", "943 476 5919", "94347659a9", ""],
)
def test_wrong_check_digit_length_or_characters_are_invalid(value: str) -> None:
    assert not nhs_number_valid(value)


def test_nine_digits_whose_check_would_be_ten_never_make_a_number() -> None:
    first_nine = next(f"{n:09d}" for n in range(10**6) if nhs_number_check_digit(f"{n:09d}") is None)
    assert not any(nhs_number_valid(first_nine + str(digit)) for digit in range(10))


def test_check_digit_needs_nine_digits() -> None:
    with pytest.raises(ValueError, match="nine digits"):
        nhs_number_check_digit("12345")


def test_non_ascii_digits_are_invalid() -> None:
    fullwidth = "".join(chr(0xFF10 + int(digit)) for digit in "9434765919")
    assert not nhs_number_valid(fullwidth)
