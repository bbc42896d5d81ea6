"""NHS number Modulus 11 check (NHS Data Dictionary, "NHS Number"; UK Core identifier
``https://fhir.nhs.uk/Id/nhs-number``).

An NHS number is ten digits; the tenth is a check digit over the first nine, weighted 10 down to 2.
A remainder that would give a check digit of 10 means the nine digits are never issued.
"""

from __future__ import annotations

NHS_NUMBER_SYSTEM = "https://fhir.nhs.uk/Id/nhs-number"

_WEIGHTS = (10, 9, 8, 7, 6, 5, 4, 3, 2)


def nhs_number_check_digit(first_nine: str) -> int | None:
    """The check digit for nine leading digits, or None when no valid number starts with them."""
    if len(first_nine) != 9 or not (first_nine.isascii() and first_nine.isdigit()):
        raise ValueError("an NHS number check digit needs exactly nine digits")
    d = [ord(digit) - 48 for digit in first_nine]  # without a generator: the import checks millions of these
    total = 10 * d[0] + 9 * d[1] + 8 * d[2] + 7 * d[3] + 6 * d[4] + 5 * d[5] + 4 * d[6] + 3 * d[7] + 2 * d[8]
    check = 11 - total % 11
    if check == 11:
        return 0
    if check == 10:
        return None
    return check


def nhs_number_valid(value: str) -> bool:
    """True when ``value`` is exactly ten ASCII digits whose last is the Modulus 11 check digit."""
    if len(value) != 10 or not (value.isascii() and value.isdigit()):
        return False
    return nhs_number_check_digit(value[:9]) == int(value[9])
