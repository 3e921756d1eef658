"""What a find is replaced by. Lowercase words in brackets: no matcher reads them as personal data,
and app/insight/themes.py ends a phrase at one."""

from __future__ import annotations

EMAIL = "[email]"
PHONE = "[phone]"
NATIONAL_ID = "[national-id]"
CARD = "[card]"
ACCOUNT = "[account]"
IBAN = "[iban]"
NAME = "[name]"
ADDRESS = "[address]"
BIRTH_DATE = "[birth-date]"

ALL = (EMAIL, PHONE, NATIONAL_ID, CARD, ACCOUNT, IBAN, NAME, ADDRESS, BIRTH_DATE)
