"""Notes keep no customer personal data: table-driven cases, including numbers that must survive."""

from __future__ import annotations

import pytest

from app.errors import Invalid
from app.privacy import MAX_NOTE_LENGTH, clean_note, scrub

MASKED = [
    # e-mail
    ("Kunden skrev fra ola.nordmann@example.no i går", "Kunden skrev fra [email] i går"),
    ("mail: KARI+app@firma.co.uk.", "mail: [email]."),
    # Norwegian phone numbers as agents type them
    ("ring tilbake på 912 34 567", "ring tilbake på [phone]"),
    ("tlf 91234567", "tlf [phone]"),
    ("fast 22 33 44 55", "fast [phone]"),
    ("+47 412 34 567 ringte", "[phone] ringte"),
    ("0047 41234567", "[phone]"),
    ("(+47) 41 23 45 67", "[phone]"),
    # international
    ("svensk nr +46 70 123 45 67", "svensk nr [phone]"),
    ("UK +44 20 7946 0958", "UK [phone]"),
    # Norwegian national identity numbers, valid or not, with or without a space
    ("fnr 01019012345", "fnr [national-id]"),
    ("fnr 010190 12345", "fnr [national-id]"),
    ("fnr 15076500565", "fnr [national-id]"),  # a valid checksum
    ("fnr 31129912399", "fnr [national-id]"),  # an invalid one: masked all the same
    ("D-nummer 41019012345", "D-nummer [national-id]"),
    ("H-nummer 01419012345", "H-nummer [national-id]"),
    # other Nordic identity numbers in their written forms
    ("personnr 850709-9805", "personnr [national-id]"),
    ("personnr 19850709-9805", "personnr [national-id]"),
    ("personnr 198507099805", "personnr [national-id]"),
    ("CPR 070985-1234", "CPR [national-id]"),
    ("HETU 131052-308T", "HETU [national-id]"),
    # payment cards (Luhn)
    ("kort 4111 1111 1111 1111 ble avvist", "kort [card] ble avvist"),
    ("kort 5500-0000-0000-0004", "kort [card]"),
    ("kort 378282246310005", "kort [card]"),
    # Norwegian bank accounts
    ("konto 1234.56.78903", "konto [account]"),
    ("konto 1234 56 78901", "konto [account]"),  # written like an account: masked whatever the check digit
    ("konto 12345678903", "konto [account]"),  # plain, valid check digit
    ("IBAN NO93 8601 1117 947", "IBAN [iban]"),
    ("IBAN SE4550000000058398257466", "IBAN [iban]"),
    # several in one note
    ("ola@x.no / 912 34 567 / 01019012345", "[email] / [phone] / [national-id]"),
]

SURVIVES = [
    "Ordre 1234567890 ble ikke levert",  # 10-digit order number
    "Ordrenummer 2026111812",
    "Beløp 1 500 kr, betalt 18.11.2026 kl 13:45",
    "Versjon 5.0.3 på iPhone 12",
    "Referanse 12345678",  # 8 digits that no Norwegian phone number starts like
    "Saksnummer 98765432101234567",  # 17 digits failing Luhn
    "Kunden venter på svar om refusjon",
    "11 digits but not an id: 12345678901",  # no date shape, bad account check digit
    "BankID loops after update 5.0",
]


@pytest.mark.parametrize(("note", "expected"), MASKED)
def test_personal_data_is_masked(note: str, expected: str) -> None:
    assert scrub(note) == expected


@pytest.mark.parametrize("note", SURVIVES)
def test_ordinary_numbers_survive(note: str) -> None:
    assert scrub(note) == note


def test_whitespace_and_control_characters_are_tidied() -> None:
    assert scrub("  two\tspaces \x00 and\nlines  ") == "two spaces and lines"


def test_empty_notes_become_none() -> None:
    assert clean_note(None) is None
    assert clean_note("   ") is None


def test_over_long_notes_are_refused_with_a_clear_message() -> None:
    with pytest.raises(Invalid) as caught:
        clean_note("x" * (MAX_NOTE_LENGTH + 1))
    assert caught.value.field == "note"
    assert "501 characters" in caught.value.message and "500" in caught.value.message
    assert clean_note("x" * MAX_NOTE_LENGTH) == "x" * MAX_NOTE_LENGTH


def test_markers_never_make_a_note_too_long() -> None:
    note = " ".join(["a@b.no"] * 71)  # 497 characters of e-mail addresses
    cleaned = clean_note(note)
    assert cleaned is not None and len(cleaned) <= MAX_NOTE_LENGTH and "@" not in cleaned
