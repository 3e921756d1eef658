"""Personal data in words: e-mail addresses (also spelled out), names after the phrases that
introduce them, and street addresses.

Names and addresses have no check digit; what is masked is what follows the usual phrases
("kunden heter", "the customer", "navnet er", "asiakas" …), a common given name with a surname
("Ola Nordmann lurer på …", given_names.py), or has a street's shape ("Storgata 5",
"Hämeenkatu 5 B 12", "12 Baker Street"). A name typed any other way survives, which is why agents are still told not
to type names (docs/guide-agents.md).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterator

from app.privacy.given_names import GIVEN_NAMES
from app.privacy.markers import ADDRESS, EMAIL, NAME
from app.privacy.markers import ALL as ALL_MARKERS

Span = tuple[int, int, str]


def _words(text: str) -> tuple[str, ...]:
    """Word lists written as text, one space or line between words."""
    return tuple(text.split())


def _latin(test: Callable[[str], bool]) -> str:
    """The Latin letters that pass ``test``, for a character class: Western Europe's, and Polish,
    Turkish, Vietnamese … names too (Latin-1, Latin Extended-A and -B, Latin Extended Additional)."""
    ranges = ((0xC0, 0x24F), (0x1E00, 0x1EFF))
    return "".join(chr(c) for first, last in ranges for c in range(first, last + 1) if test(chr(c)))


_UPPER = "A-Z" + _latin(str.isupper)
_LOWER = "a-z" + _latin(str.islower)

# ---------------------------------------------------------------------------------------------------
# E-mail addresses, in three passes so that a failed reading of one form never eats the local part
# of another: with @, with a bracketed (at), with a bare "at".

_PART = r"\w[\w%+'’-]*+"  # possessive: a word is read once, not backtracked letter by letter
_JOINS = r"[.%+'’\-]"  # what joins the parts of a local part, or the words of one part
_SPELLED_DOTS = ("dot", "punktum", "prikk")
# Between the parts of a local part: ola.nordmann, ola . nordmann, kari dot nordmann.
_LOCAL_DOT = rf"\.|\s\.\s|\s(?i:{'|'.join(_SPELLED_DOTS)})\s"
# Where a local part read from further left goes on (normalised text has single spaces).
_LOCAL_DOTS_WRITTEN = (_JOINS, r" \. ", *(rf" (?i:{dot}) " for dot in _SPELLED_DOTS))


def _not_inside_a_local_part() -> str:
    """Lookbehinds: not after what joins a part of a local part to the next, nor right after a marker
    or after a marker and such a join.

    A local part is read from its first word: started again after each "." of "a.a.a.a…" (or each "-"
    of "a--a--a…", each " dot "), every start would read the rest of the chain, quadratic. And what
    a marker replaced may have been joined to what follows, which was then no address of its own;
    read afresh after the marker, it could be one, and a second cleaning would change the note."""
    by_length: dict[int, list[str]] = {}
    for marker in ALL_MARKERS:
        by_length.setdefault(len(marker), []).append(re.escape(marker))
    before = [r"[\w%+'’\-]", *(f"(?:{'|'.join(same)})" for same in by_length.values())]
    shapes = [f"{word}{join}" for word in before for join in _LOCAL_DOTS_WRITTEN]
    return "".join(f"(?<!{shape})" for shape in (*before[1:], *shapes))


# ola.nordmann, ola . nordmann, kari dot nordmann, o'brien. Never starting inside a word, nor inside
# a local part read from further left (above). After a quote, a dash, a "]" or an ellipsis that is not
# inside one, an address starts: 'ola@example.no', ’ola@…’, -ola@…, ...ola@…, [info]ola@….
# The lookahead first: the lookbehinds are then tried only where a word starts.
_LOCAL = rf"(?=\w)(?<!\w){_not_inside_a_local_part()}{_PART}(?:(?:{_LOCAL_DOT}){_PART})*"
_DOT = (
    r"(?:\.(?=[\w-])|\s\.\s"  # example.no, example . no (a sentence's full stop has no space before it)
    r"|\s?[(\[{<]\s?(?i:dot|punktum|prikk|punkt)\s?[)\]}>]\s?"  # example(dot)no
    r"|\s(?i:dot|punktum|prikk)\s)"  # example dot no
)
_DOMAIN = rf"[^\W_][\w-]*(?:{_DOT}[\w-]+)*"
_AT_WORD = r"(?i:at|krøllalfa|snabel-?a)"

# "@" tight, or with a space after it or on both sides; not with one only before it, which is a
# handle ("skrev til @VippsNorge"), not an address. No top-level domain is needed: ola@example.
# Typed twice is a slip: kari@@gmail.com.
_EMAIL_AT = re.compile(rf"{_LOCAL}(?:@@?\s?|\s@@?\s){_DOMAIN}")
# A space before the "@" only: an address when it has a dot in its domain and the part before could
# not be an ordinary word or the domain is a mail provider ("ola.nordmann @gmail.com"), not "til @vipps.no".
_EMAIL_SPACE_AT = re.compile(rf"(?P<local>{_LOCAL})\s@(?P<domain>[^\W_][\w-]*(?:\.[\w-]+)+)")
# (at), [at], (@), [@], (krøllalfa) …
_EMAIL_BRACKETED = re.compile(rf"{_LOCAL}\s?[(\[{{<]\s?(?:{_AT_WORD}|@)\s?[)\]}}>]\s?{_DOMAIN}")
# matti.meikalainen(a)gmail.com, kari[a]example.no: how Finns and Swedes hide an address. Only tight
# and with a top-level domain: "velg (a) eller (b)", "punkt (a) 5.0.1" are lists.
_EMAIL_BRACKETED_A = re.compile(rf"{_LOCAL}[(\[{{<][aA][)\]}}>][^\W_][\w-]*+(?:\.[\w-]++)*?\.[^\W\d_]{{2,}}+(?![\w-])")
# The bare form is found from its "at" (a space is cheap to look for; every word as a local part is
# not), then the local part is read backwards from there.
_AT_THEN_DOMAIN = re.compile(rf"\s(?P<at>{_AT_WORD})\s(?P<domain>{_DOMAIN})")
_LOCAL_BEFORE = re.compile(rf"{_LOCAL}\Z")
_LONGEST_LOCAL = 64
_BRACKETED_AT = re.compile(r"[(\[{<]\s?(?:at|krøllalfa|snabel|@)|[(\[{<]a[)\]}>]")  # on lowercased text
_SPELLED_DOT = re.compile(r"(?i)\b(?:dot|punktum|prikk|punkt)\b")
# With a bare "at", "looked at vipps.no" must survive. So a dotted domain is only taken for an
# address when the local part could not be an ordinary word (it has . _ or a digit) or the domain
# is a mail provider; a spelled-out "dot" or the words krøllalfa/snabel-a always are.
_MAIL_PROVIDERS = frozenset(
    _words(
        "gmail googlemail hotmail outlook live msn yahoo icloud me mac aol gmx proton protonmail pm "
        "online telia telenor altibox getmail broadpark lyse start frisurf yandex mail email fastmail "
        "tutanota hey jubii ofir webspeed tdcadsl stofanet vip"
    )
)


def _bare_at_is_email(local: str, at: str, domain: str) -> bool:
    if at.lower() != "at" or _SPELLED_DOT.search(domain):
        return True
    if "." not in domain:
        return False
    return bool(re.search(r"[._\d]", local)) or domain.split(".", 1)[0].strip().lower() in _MAIL_PROVIDERS


def email_at_spans(text: str) -> Iterator[Span]:
    if "@" not in text:
        return
    yield from ((m.start(), m.end(), EMAIL) for m in _EMAIL_AT.finditer(text))
    if " @" in text:
        for m in _EMAIL_SPACE_AT.finditer(text):
            if _bare_at_is_email(m.group("local"), "at", m.group("domain")):
                yield m.start(), m.end(), EMAIL


def email_bracketed_spans(text: str) -> Iterator[Span]:
    if not _BRACKETED_AT.search(text.lower()):
        return
    yield from ((m.start(), m.end(), EMAIL) for m in _EMAIL_BRACKETED.finditer(text))
    yield from ((m.start(), m.end(), EMAIL) for m in _EMAIL_BRACKETED_A.finditer(text))


def email_bare_spans(text: str) -> Iterator[Span]:
    lower = text.lower()
    if " at " not in lower and "krøllalfa" not in lower and "snabel" not in lower:
        return
    position = taken = 0
    while after := _AT_THEN_DOMAIN.search(text, position):
        position = after.start() + 1  # a failed reading must not hide an address that overlaps it
        at, domain = after.group("at"), after.group("domain")
        if at.lower() == "at" and "." not in domain and not _SPELLED_DOT.search(domain):
            continue  # "at home", "at work": no domain, no local part to look for
        local = _LOCAL_BEFORE.search(text, max(taken, after.start() - _LONGEST_LOCAL), after.start())
        if local and _bare_at_is_email(local.group(), at, domain):
            yield local.start(), after.end(), EMAIL
            position = taken = after.end()


# ---------------------------------------------------------------------------------------------------
# Names: every capitalised word after a phrase that names someone ("jeg heter", "name is",
# "kundens namn är"), one or more; after a word for the customer ("kunden Ola Nordmann", "the
# customer Anne-Marie Berg") two or more, as one capitalised word is as often a product ("kunden
# BankID"). Particles (van, de, da …) between them belong to the name. A name ends before a word that
# is no one's (_NOT_NAMES): "kunden Kari Anne Nordmann Hansen, BankID …".

_NAME_WORD = (
    rf"(?:[{_UPPER}]['’])?[{_UPPER}][{_LOWER}]+(?:[{_UPPER}][{_LOWER}]+)?(?:-[{_UPPER}][{_LOWER}]+)*"
    rf"|[{_UPPER}]{{2,}}(?:-[{_UPPER}]{{2,}})*"  # in capitals: NAVN: KARI NORDMANN
)
_PARTICLE = r"(?:van|von|der|den|de|af|av|da|di|du|la|le|del|dos|ter|ten)"
# Eight name words at most: far more than anyone gives, and what keeps a long run of capitalised
# words after each of many phrase words ("Kunden Kunden Kunden …") linear. At most three words was
# too few: "kunden Kari Anne Nordmann Hansen" kept the surname.
_MOST_NAME_WORDS = 8
_NAME = re.compile(
    rf"(?:{_NAME_WORD})(?:\s(?:{_PARTICLE}\s){{0,2}}(?:{_NAME_WORD})){{0,{_MOST_NAME_WORDS - 1}}}(?![\w\[])"
)
# The capital is one on (no lookbehind, which is slower); after a space, or the punctuation a name
# is put in: "kunden (Kari Nordmann)", «Kari Nordmann», "kunden - Kari Nordmann".
_OPENING = " :,(«\"'“‘-"
_CAPITAL = re.compile(rf"[\s:,(«\"'“‘-][{_UPPER}]")
# After "heter" a name is a name in any case: "kunden heter kari nordmann". Up to three words and
# the particles between them ("kari anne nordmann", "jan van der berg", "kari berg-olsen"), ending
# before a word that goes on with the sentence or is no one's ("kunden heter ola nordmann ringte om …",
# "… ola nordmann bankid feiler"); a third word only as _lower_name_end allows.
# Only after a person ("kunden heter", "hun heter"): "knappen heter overfør", "appen heter vipps" are no one.
_LOWER_NAME_WORD = rf"[{_LOWER}]{{2,}}(?:-[{_LOWER}]{{2,}})*"
_NAMED_LOWER = re.compile(
    rf"(?i:\b(?:kunden|kunde|kund|hun|han|hon|jeg|jag|customer|datteren|sønnen|mannen|kona|moren|faren|dottern"
    rf"|sonen|maken|frun)\s(?:heter|hedder|heiter|het|hette|hed))"
    rf"\s(?P<name>{_LOWER_NAME_WORD}(?:\s(?:{_PARTICLE}\s){{0,2}}{_LOWER_NAME_WORD}){{0,2}})"
)
_PARTICLES = frozenset(_PARTICLE.strip("(?:)").split("|"))
# Words that go on with the sentence after a name: a lower-case name ends before the first of them,
# and so does a name in capitals (NAVN: KARI NORDMANN RINGTE OM BANKID). Verbs too, now that a
# lower-case name may have three words.
_SENTENCE_WORDS = frozenset(
    _words(
        """
    og men som i på med fra til for om at er eller ikke også visst and but who in on with from
    var har hadde fikk får kan kunne vil ville skal skulle må ble blir sier sa skriver skrev ringte ringer
    ringde ringede prøvde prøver venter spør spurte lurer trenger mangler fant finner kommer kom gjelder
    är och säger sagde siger vill gäller gælder
    is was has had says said wrote called calls asked asks wants can could would concerns
    """
    )
)


def _phrases(words: str) -> frozenset[str]:
    """Phrases written with | between their words, separated by spaces."""
    return frozenset(phrase.replace("|", " ") for phrase in words.split())


# Phrases that name someone (a single capitalised word after them is a name) …
_NAMING = _phrases(
    """
    name named name|is my|name|is his|name|is her|name|is their|name|is
    customer|name customer|name|is customer's|name customer's|name|is
    the|customer's|name the|customer's|name|is
    navn navn|er navnet navnet|er navnet|mitt|er navnet|hans|er navnet|hennes|er kundens|navn kundens|navn|er
    kundenavn kundenavn|er kundenavnet kundenavnet|er
    namn namn|är namnet|är namnet|mitt|är kundens|namn kundens|namn|är kundnamn kundnamn|är kundnamnet
    kundnamnet|är
    nimi nimi|on nimeni nimeni|on asiakkaan|nimi asiakkaan|nimi|on
    heter hedder herr fru mr mr. mrs mrs. ms ms. miss het hette hed hr hr. frk frk. fr.
    hilsen mvh mvh. vh hälsningar hälsning regards greetings terveisin
    datter datteren dattera sønn sønnen mor moren mora far faren mamma pappa kone kona mann mannen
    ektemann ektemannen samboer samboeren barnet dotter dottern son sonen frun man maken sambo søn
    konen mand manden daughter mother father wife husband mum mom dad
    """
)
# … and words for the customer, or for someone a caller speaks for (two or three capitalised words
# after them are a name): a bank's centre hears from the family of someone who died.
_CUSTOMER = _phrases(
    """
    the|customer customer the|client client kunden kundens kunde kund asiakas
    vegne|av vegne|af vägnar|av behalf|of avdøde deceased dødsboet|etter dödsboet|efter boet|etter estate|of
    snakket|med snakka|med pratet|med talte|med pratade|med talade|med talte|med spoke|with talked|to
    snakker|med pratar|med talar|med pratat|med talat|med snakkede|med spoke|to talked|with speaking|with spoken|to
    spoken|with
    """
)
_LONGEST_PHRASE = 4  # words
_LAST_WORDS = frozenset(phrase.rsplit(" ", 1)[-1] for phrase in _NAMING | _CUSTOMER)
# Capitalised words that are no one's name here: products, services, pronouns and sentence words,
# weekdays and months. A name ends before the first of them.
_NOT_NAMES = frozenset(
    _words(
        """
    bankid vipps mobilepay swish mastercard visa maestro amex american express apple google pay android
    iphone ipad samsung huawei windows mac chrome safari firefox edge browser app appen appens store play nav altinn
    dnb nordea sparebank handelsbanken seb swedbank danske bank banken telenor telia ice support service
    kundeservice kundesenter chat facebook messenger sms email e-post ok okay min mitt mine my side sida
    customer tech team teamet helpdesk desk
    konto kontoen profil face touch id pin kode passord password login logg
    han hun hon det den de vi jeg jag du i he she they it the this that we you ikke inte not also også
    monday tuesday wednesday thursday friday saturday sunday mandag tirsdag onsdag torsdag fredag lørdag
    """
    )
)
# A company's form: a run with one is a business, not a person ("kunde (Bedrift AS)").
# So is a public body's, a country's or a centre's word: whom an agent "snakket med" or a caller rings
# "på vegne av" is as often Posten Norge, Oslo kommune, Statens vegvesen or Ruter kundesenter.
_COMPANY = frozenset(
    _words(
        """
    as asa ab ans da ba sa ltd inc llc gmbh oy oyj aps corp
    kommune kommunen kommun kommunes fylkeskommune vegvesen vegvesenet norge noreg sverige danmark finland
    air airlines airways tipping kundesenter kundesenteret kundeservice kundeservicen kundtjänst
    """
    )
)
# What ends a lower-case name: words that go on with the sentence, no one's words, a company's form.
# A particle that is also one of these ("de", "den", "da") is read as a particle between name words.
_NOT_LOWER_NAMES = _SENTENCE_WORDS | _NOT_NAMES | _COMPANY
_SENTENCE_END = ".,;:!?)»”\"'"
# Weekdays and months that are given names too (August, Mai, June): a name beside another name word
# ("kunden August Hansen") or after a naming phrase ("heter August"), never on their own after a word
# for the customer ("kunden Mai skriver" is rare; "the customer Monday" rarer still).
_CALENDAR = frozenset(
    _words(
        """
    monday tuesday wednesday thursday friday saturday sunday mandag tirsdag onsdag torsdag fredag lørdag
    søndag måndag tisdag lördag söndag january february march april may june july august september
    october november december januar februar mars mai juni juli desember januari februari maj augusti
    oktober
    """
    )
)


# Norwegian "far" is a father, English "so far" is not: "so far Klarna works" names no one.
_ENGLISH_FAR = frozenset(_words("so as how too thus by"))


def _phrase_before(text: str, position: int) -> int:
    """How many capitalised words make a name at ``position``: 1 after a naming phrase, 2 after a
    word for the customer, 0 (no name) otherwise."""
    before = text[max(0, position - 40) : position]
    stripped = before.rstrip(_OPENING)
    if len(stripped) == len(before) or stripped[stripped.rfind(" ") + 1 :].lower() not in _LAST_WORDS:
        return 0  # most capitals: the word before ends no phrase
    words = stripped.lower().split()[-_LONGEST_PHRASE:]
    for count in range(len(words), 0, -1):
        phrase = " ".join(words[-count:])
        if phrase == "far" and count == 1 and len(words) > 1 and words[-2] in _ENGLISH_FAR:
            return 0
        if phrase in _NAMING:
            return 1
        if phrase in _CUSTOMER:
            return 2
    return 0


_GIVEN_NAME_THEN_MORE = 2  # name words: a given name alone is as often a word ("Per måned", "Liv og helse")
_GIVEN_NAME = re.compile(rf"[{_UPPER}][{_LOWER}]+")


# What follows a person's name in a place's: Karl Johans gate, Ole Bulls plass, Erling Skakkes gate.
_STREET_AFTER = re.compile(
    r" (?i:gate|gata|gatan|gaten|vei|veg|vej|vejen|veien|gade|allé|plass|plads|torg|torv|väg|vägen|street|road)\b"
)


def _given_name_at(text: str, start: int) -> bool:
    word = _GIVEN_NAME.match(text, start)
    return word is not None and word.group().casefold() in GIVEN_NAMES


def name_spans(text: str) -> Iterator[Span]:
    """Names after the phrases that introduce them. Found from their capital letters, which are
    few in a note, then the words before them are looked up: a pattern of all the phrases,
    tried at every word, cost 25 µs a note."""
    position = 0
    starts = (capital.start() + 1 for capital in _CAPITAL.finditer(text))
    for start in itertools.chain([0] if text[:1].isupper() else [], starts):
        if start < position:
            continue
        least = _phrase_before(text, start)
        # After no phrase, a common given name and a surname: "Ola Nordmann lurer på …". Both words a
        # name's: "Finn Vipps i appen", "Tor Browser" are not one.
        given = not least and _given_name_at(text, start)
        if not (least or given):
            continue
        if not (name := _NAME.match(text, start)):
            continue
        end = _name_end(name, least or _GIVEN_NAME_THEN_MORE)
        if given and end and text[end - 1] == "s" and _STREET_AFTER.match(text, end):
            # A street or square named after someone, in the genitive, is a place: "i Karl Johans gate",
            # "Ole Bulls plass" (with a house number it is an address, masked before this).
            continue
        if end and (not given or len(text[start:end].split()) >= _GIVEN_NAME_THEN_MORE):
            yield start, end, NAME
            position = end
    folded = text.lower()
    # A name follows "het", "hette" or "hed" after a space (normalised text has single spaces); the
    # letters alone are in many words (sikkerhet, beskjed).
    if not any(verb in folded for verb in ("heter", "hedder", "heiter", " het ", " hette ", " hed ")):
        return  # the pattern tried at every word would cost more than the rest of this
    for lower in _NAMED_LOWER.finditer(text):
        start = lower.start("name")
        if end := _lower_name_end(text, start, lower.group("name").split()):
            yield start, end, NAME


_AFTER_A_NAME = frozenset({"og", "som", "and", "who", "och", "der"})


def _lower_name_end(text: str, start: int, words: list[str]) -> int | None:
    """Where a lower-case name after "heter" ends. Before a word that goes on with the sentence or is
    no one's (a product, "appen", "kontoen", a company's form): "kunden heter kari hansen vipps virker
    ikke" is about Vipps. A third word is as often the verb or noun the note goes on with ("ola nordmann
    feiler etter …"), so it is taken only when a particle or a hyphen joins it, or the note or sentence
    ends with it."""
    words = list(itertools.takewhile(lambda word: word in _PARTICLES or word not in _NOT_LOWER_NAMES, words))
    while words and words[-1] in _PARTICLES:  # "kunden heter kari de ringte": "de" is the sentence's
        words.pop()
    names = [index for index, word in enumerate(words) if word not in _PARTICLES]
    if len(names) > 2:
        third = names[2]
        end = start + len(" ".join(words[: third + 1]))
        joined = words[third - 1] in _PARTICLES or "-" in words[third]  # "kari van berg", "kari anne berg-olsen"
        # "kari anne nordmann og ringte", "… som ringte": a word that joins clauses follows a name's end
        # more often than a verb's, and a surname kept costs more than a verb masked.
        clause = re.match(r"\s+(\w+)", text[end:])
        after_name = clause is not None and clause.group(1).casefold() in _AFTER_A_NAME
        if not (joined or after_name or end == len(text) or text[end] in _SENTENCE_END):
            words = words[:third]
    return start + len(" ".join(words)) if words else None


def _name_end(name: re.Match[str], least: int) -> int | None:
    """Where the name in a run of capitalised words ends, or None when the run is no name: fewer than
    ``least`` name words, counting a month or weekday only beside a real name word (or alone after a
    naming phrase). A product's word ends the run; the name words before it stay a name
    ("kunden Kari Bank")."""
    start = name.start()
    if least > 1 and name.group().isupper():
        return None  # capitals after a word for the customer are how some type a whole note: KUNDEN RINGTE OM …
    names = calendar = 0
    end = start
    for word in re.finditer(r"\S+", name.group()):
        if word.group().islower():  # a particle between name words: "de" and "den" are pronouns too
            continue
        folded = word.group().casefold()
        if folded in _COMPANY:
            return None
        if folded in _NOT_NAMES or (folded in _SENTENCE_WORDS and word.group().isupper()):
            return end if names else None
        capital = word.group()[0].isupper()
        if folded in _CALENDAR:
            calendar += capital
        else:
            names += capital
        end = start + word.end()
    if names + calendar >= least and (names or least == 1):
        return end
    return None


# ---------------------------------------------------------------------------------------------------
# Street addresses: a street name and a house number (and letter, and flat number), then perhaps a
# postcode and place. Without a number a street is a place, not an address, and is kept.

# Endings that are only ever streets: masked in any case ("storgata 5").
_STREET_LONG = _words(
    "veien vegen gata gaten gatan vägen stien stigen plassen torget gränd vejen gaden alléen alleen "
    "stræde bakken brygga bryggen kaia kaien "
    "katu kuja polku väylä"  # Finnish: Hämeenkatu, Puistokuja, Koivupolku, Itäväylä
)
# Shorter endings that end ordinary words too (delegate, alle): only in a capitalised name.
# Storgt. 5, Kirkevn 12; Finnish Mannerheimintie 12, Kauppatori 1 ("necktie", "territori" are no streets).
_STREET_SHORT = _words("gate gade vei veg vej väg sti plass torg torv allé gt gt. vn vn. tie tori")
# Street words written apart, after one to three capitalised words: "Karl Johans gate 1",
# "H.C. Andersens Boulevard 27", "Baker Street 5".
_STREET_WORDS = frozenset(
    _words("gate Gate gata gatan vei Vei veg vej Vej gade Gade allé Allé plass torg väg vägen Boulevard")
)
_ENGLISH_STREET = (
    r"Street|street|St\.?|Road|road|Rd\.?|Avenue|avenue|Ave\.?|Lane|lane|Ln\.?|Way|Boulevard|Blvd\.?"
    r"|Crescent|Terrace|Gardens|Close"
)
_ENGLISH_STREET_WORDS = frozenset(re.sub(r"\\\.\?", "", _ENGLISH_STREET).split("|")) | frozenset(
    w + "." for w in ("St", "Rd", "Ave", "Ln", "Blvd")
)
_STREET_NAME = re.compile(rf"[{_LOWER}{_UPPER}][{_LOWER}{_UPPER}.'-]+")
_CAPITALISED = re.compile(rf"[{_UPPER}][\w.'’-]*")
# 5, 5B, 5 b, 5-7, 5 H0201; a staircase then a flat, as in Finland: 5 B 12
_HOUSE = re.compile(r"\d{1,4}(?:-\d{1,4}(?!\d))?(?:\s?[A-Za-z](?:\s\d{1,3})?(?![\w\[]))?(?:\s[HhUuKkLl]\d{4}(?!\d))?")
_POST_BOX = frozenset(_words("postboks postbox pb pb. postfach"))  # a private person's too
_POSTCODE_PLACE = re.compile(  # 0150 Oslo, 114 55 Stockholm, 33100 Tampere, 2100 København Ø; London NW1 6XE
    rf",?\s(?:\d{{4,5}}|\d{{3}}\s\d{{2}})\s[{_UPPER}][{_LOWER}-]+(?:\s[{_UPPER}](?![\w\[]))?"
    rf"|,?\s(?:[{_UPPER}][{_LOWER}]+,?\s)?[A-Z]{{1,2}}\d[A-Z\d]?\s?\d[A-Z]{{2}}(?![\w\[])"
)
_NUMBER = re.compile(r"\d+")  # house numbers are 1–4 digits after no letter: checked by hand, faster
_NUMBER_THEN_STREET = re.compile(  # 12 Baker Street, 221B Baker Street
    rf"\d{{1,4}}[A-Za-z]?,?\s(?:[{_UPPER}][\w.'’-]*+\s){{1,3}}(?:{_ENGLISH_STREET})(?![\w\[])"
)


def _is_street_name(word: str) -> bool:
    lower = word.lower()
    if lower.endswith(_STREET_LONG):
        endings = _STREET_LONG
    elif word.endswith(_STREET_SHORT) and word[:1].isupper():
        endings, lower = _STREET_SHORT, word
    else:
        return False
    return any(lower.endswith(e) and len(word) >= len(e) + 2 for e in endings) and bool(_STREET_NAME.fullmatch(word))


def _street_before(text: str, number: int) -> int | None:
    """Where the street name that ends just before the house number at ``number`` starts."""
    if number < 2 or text[number - 1] != " ":
        return None
    start = text.rfind(" ", 0, number - 1) + 1
    word = text[start : number - 1]
    if _is_street_name(word) or word.lower() in _POST_BOX:
        return start
    if word not in _STREET_WORDS and word not in _ENGLISH_STREET_WORDS:
        return None
    names = 0
    while names < 3 and start > 1 and text[start - 1] == " ":
        previous = text.rfind(" ", 0, start - 1) + 1
        if not _CAPITALISED.fullmatch(text, previous, start - 1):
            break
        start, names = previous, names + 1
    return start if names else None


def address_spans(text: str) -> Iterator[Span]:
    """Street addresses, found from their house numbers: a number is cheap to find, a street's
    ending is not (trying every ending at every letter cost 40 µs a note)."""
    position = 0
    for number in _NUMBER.finditer(text):
        at, after = number.start(), number.end()
        if at < position or after - at > 4 or (at and text[at - 1] != " "):
            continue
        start = _street_before(text, at)
        joined, follows = text[after : after + 1], text[after + 1 : after + 2]
        # 5.0.1, 12.11.2026, 09:15 (or 070-[phone], masked): not a house number. After a street's
        # name, 5-7 is a range of house numbers.
        house_range = start is not None and joined == "-" and follows.isdigit()
        if joined in (".", ":", "/", "-") and (follows.isdigit() or follows == "[") and not house_range:
            continue
        if start is not None:
            end = _HOUSE.match(text, at).end()  # type: ignore[union-attr]  # it starts with the digits
        elif english := _NUMBER_THEN_STREET.match(text, at):
            start, end = at, english.end()
        else:
            continue
        if place := _POSTCODE_PLACE.match(text, end):
            end = place.end()
        yield start, end, ADDRESS
        position = end
