"""Themes in "other" over 100,000 notes: the rising themes (default period, an alert's window) and the
notes page, in a new process, after a re-link, and in the steady state.

    uv run python -m bench.themes [--notes 100000] [--linked 300000] [--postgres URL]

The notes are made up from a vocabulary (Norwegian, a sixth in English): some forty things in the
app in their inflected forms, twenty ways they go wrong, openers, and extras with order numbers and
scrubbed phone numbers, so most notes are different texts. On the last day a theme nobody expected
appears ("widgeten på hjemskjermen …") in 6 % of the notes. Prints a Markdown table for
docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import platform
import random
import time
from typing import Any
from zoneinfo import ZoneInfo

from app import launches
from app.db import Database
from app.insight import themes
from app.models import Enquiry, EnquiryHypothesis, Hypothesis, Launch, LaunchStatus, id_of
from app.recording.store import Store
from bench.data import CHUNK, STARTS_ON, fresh_database
from bench.timing import TABLE_HEADER, Timing, measure

OSLO = ZoneInfo("Europe/Oslo")
DAYS = 21

THINGS = [
    ("kortet", "kort", "kortene"),
    ("fakturaen", "faktura", "fakturaer"),
    ("passordet", "passord"),
    ("appen", "app"),
    ("innloggingen", "innlogging"),
    ("kvitteringen", "kvittering", "kvitteringene"),
    ("saldoen", "saldo"),
    ("mobilnummeret", "mobilnummer"),
    ("varselet", "varsel", "varslene"),
    ("overføringen", "overføring", "overføringer"),
    ("betalingen", "betaling", "betalinger"),
    ("kontoen", "konto", "kontoer"),
    ("avtalen", "avtale"),
    ("gebyret", "gebyr", "gebyrene"),
    ("vippsen", "vipps"),
    ("bankid", "BankID"),
    ("lånet", "lån"),
    ("renten", "rente"),
    ("sparemålet", "sparemål"),
    ("kontoutskriften", "kontoutskrift"),
    ("adressen", "adresse"),
    ("e-posten", "e-post"),
    ("menyen", "meny"),
    ("knappen", "knapp"),
    ("skjermbildet", "skjermbilde"),
    ("søket", "søk"),
    ("oversikten", "oversikt"),
    ("grensen", "grense"),
    ("beløpet", "beløp"),
    ("mottakeren", "mottaker"),
    ("eFakturaen", "eFaktura"),
    ("avtalegiroen", "avtalegiro"),
    ("fondet", "fond", "fondene"),
    ("aksjene", "aksje"),
    ("forsikringen", "forsikring"),
    ("profilen", "profil"),
    ("samtykket", "samtykke"),
    ("chatten", "chat"),
    ("koden", "kode"),
    ("brikken", "brikke"),
]
PROBLEMS = [
    "virker ikke",
    "er borte",
    "viser feil beløp",
    "krasjer",
    "er veldig treg",
    "mangler",
    "finnes ikke lenger",
    "blir ikke lagret",
    "kommer ikke frem",
    "er vanskelig å finne",
    "vises to ganger",
    "er på engelsk",
    "har feil dato",
    "lar seg ikke endre",
    "ble avvist",
    "henger",
    "forsvant",
    "er grå",
    "gir feilmelding",
    "er tom",
]
OPENERS = ["", "", "Kunden sier at", "Lurer på hvorfor", "Ringte fordi", "Spør om", "Vil vite hvorfor", "Sier at"]
EXTRAS = ["", "", "", "etter oppdateringen", "på iPhone", "på Android", "i går", "ordre {n}", "ring [phone]", "sak {n}"]
ENGLISH_THINGS = ["card", "invoice", "password", "app", "login", "receipt", "balance", "transfer", "payment", "account"]
ENGLISH_PROBLEMS = ["does not work", "is gone", "shows the wrong amount", "crashes", "is very slow", "is missing"]
THEME = [
    "Widgeten på hjemskjermen forsvant",
    "widgeten på hjemskjermen er borte",
    "finner ikke widget på hjemskjermen",
    "Hvor ble det av widgeten på hjemskjermen?",
    "widgeten på hjemskjermen viser ikke saldo",
]


def note_text(rng: random.Random, weights: list[float], *, theme: bool) -> str:
    if theme:
        text = rng.choice(THEME)
    elif rng.random() < 1 / 6:
        text = f"Customer says the {rng.choice(ENGLISH_THINGS)} {rng.choice(ENGLISH_PROBLEMS)}"
    else:
        thing = rng.choices(THINGS, weights=weights)[0]
        text = f"{rng.choice(OPENERS)} {rng.choice(thing)} {rng.choice(PROBLEMS)}".strip()
        text = text[:1].upper() + text[1:]
    extra = rng.choice(EXTRAS).format(n=rng.randrange(100_000, 999_999))
    return f"{text} {extra}".strip()


def build(db: Database, *, notes: int, linked: int, seed: int = 7) -> Launch:
    """A launch of 21 days: ``notes`` "other" notes and ``linked`` enquiries on 15 hypotheses."""
    rng = random.Random(seed)
    with db.transaction() as session:
        launch = Launch(
            slug="bench-themes",
            name="Themes benchmark",
            starts_on=STARTS_ON,
            ends_on=STARTS_ON + dt.timedelta(days=DAYS - 1),
            timezone="Europe/Oslo",
            digest_times=["09:00", "13:00", "16:00"],
            channels=["phone", "chat", "email", "social"],
            segments=["private", "business"],
            status=LaunchStatus.LIVE,
        )
        session.add(launch)
        session.flush()
        hypotheses = [
            Hypothesis(launch_id=id_of(launch), key=f"h{i:02d}", text=f"Hypothesis {i}", sort_order=i)
            for i in range(15)
        ]
        session.add_all(hypotheses)
    ids = [id_of(h) for h in hypotheses]
    weights = [1 / (i + 1) for i in range(len(THINGS))]  # a few common things, a long tail
    total = notes + linked
    start = dt.datetime.combine(STARTS_ON, dt.time(7, 0), tzinfo=dt.UTC)
    theme_from = dt.datetime.combine(STARTS_ON + dt.timedelta(days=DAYS - 1), dt.time(7, 0), tzinfo=dt.UTC)
    enquiry_table = Enquiry.__table__  # type: ignore[attr-defined]
    link_table = EnquiryHypothesis.__table__  # type: ignore[attr-defined]
    other_every = total / notes
    next_id = 1
    for chunk_start in range(0, total, CHUNK):
        batch: list[dict[str, Any]] = []
        links: list[dict[str, Any]] = []
        for n in range(chunk_start, min(total, chunk_start + CHUNK)):
            day = n * DAYS // total
            created = start + dt.timedelta(days=day, seconds=rng.randrange(11 * 3600))
            is_other = int(n / other_every) != int((n + 1) / other_every)
            theme = is_other and created >= theme_from and rng.random() < 0.06
            batch.append(
                {
                    "id": next_id,
                    "launch_id": id_of(launch),
                    "channel": rng.choice(launch.channels),
                    "segment": "business" if rng.random() < 0.15 else "private",
                    "created_at": created,
                    "is_other": is_other,
                    "idempotency_key": f"t{n}",
                    "note": note_text(rng, weights, theme=theme) if is_other else None,
                }
            )
            if not is_other:
                links.append(
                    {
                        "enquiry_id": next_id,
                        "hypothesis_id": rng.choice(ids),
                        "launch_id": id_of(launch),
                        "created_at": created,
                    }
                )
            next_id += 1
        with db.write_connection() as connection:
            connection.execute(enquiry_table.insert(), batch)
            if links:
                connection.execute(link_table.insert(), links)
    with db.engine.connect() as connection:
        if not db.is_sqlite:
            connection.exec_driver_sql("SELECT setval('enquiry_id_seq', (SELECT max(id) FROM enquiry))")
        connection.exec_driver_sql("ANALYZE")
        connection.commit()
    return launch


def forget(db: Database, *, days: bool = True, texts: bool = True) -> None:
    """As a new process would start: without the kept day counts (``days``) and note analyses (``texts``)."""
    if days:
        db.memo.pop(themes.THEME_DAYS_KEY, None)
    if texts:
        themes.analyse.cache_clear()
        themes.stem.cache_clear()


def run(*, notes: int, linked: int, postgres: str | None) -> tuple[list[Timing], list[str]]:
    db = fresh_database(postgres, f"themes_{notes}")
    started = time.perf_counter()
    launch = build(db, notes=notes, linked=linked)
    print(f"loaded {notes:,} notes and {linked:,} other enquiries in {time.perf_counter() - started:.0f} s")
    # Mid-afternoon on the last day: twenty closed days and one open; the theme began this morning.
    now = dt.datetime.combine(launch.ends_on, dt.time(14), tzinfo=OSLO).astimezone(dt.UTC)
    alert_window = (now - dt.timedelta(hours=4), now)
    week = (now - dt.timedelta(days=7), now)
    whole = launches.window(launch)
    results: list[Timing] = []
    facts: list[str] = []
    with db.session() as session:
        state = {"launch": launch}  # as the last request read it

        def default() -> themes.Surprises:
            return themes.surprises(session, state["launch"], now=now)

        found = default()
        facts.append(
            f"default period {found.start:%d %b %H:%M}–{found.end:%d %b %H:%M} UTC: {found.notes_total:,} notes "
            f"against {found.before_total:,} before; first theme {found.themes[0].phrase!r} "
            f"({found.themes[0].recent} vs {found.themes[0].before}, G² {found.themes[0].score:.0f}), "
            f"{len(found.themes)} themes"
            if found.themes
            else "no theme found"
        )

        def new_process() -> None:
            forget(db)
            default()

        def after_relink() -> None:
            """A re-link into day 10 raises the counts version: that day is counted again, the rest taken over."""
            with db.write_connection() as connection:
                Store.of(connection).bump_counts_version(id_of(launch), [STARTS_ON + dt.timedelta(days=9)])
            session.rollback()  # a new request: a new snapshot, the launch row read afresh
            state["launch"] = session.get(Launch, launch.id) or launch
            default()

        results.append(
            measure("rising themes, first call of a process (every note read and analysed)", new_process, runs=5)
        )
        results.append(
            measure(
                "rising themes, after a re-link or backfill into one day (the others taken over)", after_relink, runs=5
            )
        )
        results.append(measure("rising themes, steady state (default period: the last 24 hours)", default))
        results.append(
            measure(
                "rising themes of an alert's 4-hour window, steady state",
                lambda: themes.surprises(session, state["launch"], now=now, start=alert_window[0], end=alert_window[1]),
            )
        )
        results.append(
            measure(
                "rising themes of the last 7 days, steady state",
                lambda: themes.surprises(session, state["launch"], now=now, start=week[0], end=week[1]),
                runs=10,
            )
        )

        def page(start: dt.datetime, end: dt.datetime, q: str | None = None) -> None:
            themes.group_notes(themes.load_notes(session, launch, start=start, end=end), q=q)

        results.append(measure("notes page: the last 24 hours grouped", lambda: page(found.start, found.end), runs=10))
        results.append(measure("notes page: the whole launch grouped", lambda: page(*whole), runs=5))
        results.append(
            measure("notes page: the whole launch searched (q=widget)", lambda: page(*whole, "widget"), runs=5)
        )
    db.dispose()
    return results, facts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--notes", type=int, default=100_000)
    parser.add_argument("--linked", type=int, default=300_000)
    parser.add_argument("--postgres", metavar="URL", help="admin URL of a PostgreSQL server; SQLite when left out")
    args = parser.parse_args()
    results, facts = run(notes=args.notes, linked=args.linked, postgres=args.postgres)
    print(
        f"\n{'PostgreSQL' if args.postgres else 'SQLite'}, {args.notes:,} notes under other and {args.linked:,} "
        f"enquiries on hypotheses, Python {platform.python_version()}\n"
    )
    for fact in facts:
        print(fact)
    print()
    print(TABLE_HEADER)
    for timing in results:
        print(timing.row())


if __name__ == "__main__":
    main()
