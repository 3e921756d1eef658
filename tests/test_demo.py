"""`tally demo` data: a live launch started a few days ago, people, enquiries; idempotent."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import select

from app import auth, demo, launches
from app.config import Settings
from app.db import Database
from app.insight import themes
from app.models import DigestRun, LaunchStatus, Role, User
from app.tallies import tally
from tests.processes import free_port, run_tally, started

NOW = dt.datetime(2026, 11, 19, 14, 0, tzinfo=dt.UTC)


def test_demo_loads_a_living_launch_once(db: Database, settings: Settings) -> None:
    first = demo.load(db, settings=settings, now=NOW)
    assert first.launch.status == LaunchStatus.LIVE
    assert first.launch.starts_on == dt.date(2026, 11, 16)
    assert first.added_enquiries > 300

    second = demo.load(db, settings=settings, now=NOW)
    assert second.added_enquiries == 0

    with db.session() as session:
        launch = launches.get_by_slug(session, first.launch.slug)
        start, _ = launches.window(launch)
        result = tally(session=session, launch=launch, start=start, end=NOW)
        assert {u.username for u in session.exec(select(User))} == {u.username for u in demo.DEMO_USERS}
    assert result.total == first.added_enquiries
    assert 0 < result.other < result.total
    assert all(n > 0 for n in result.by_channel.values())
    # One hypothesis the team expected never came: the digest has a "not seen" to show.
    assert sorted(result.by_hypothesis.values())[0] == 0
    # Written before the release: none reads as added mid-launch ("–" before it, an "added" date).
    with db.session() as session:
        hypotheses = launches.hypotheses_of(session, launches.get_by_slug(session, first.launch.slug))
        assert all(h.created_at < start for h in hypotheses)
        # Its digests' history is marked with the language it was composed in, as every stored digest is.
        languages = set(session.exec(select(DigestRun.language).where(DigestRun.launch_id == launch.id)))
        assert languages == {settings.message_language}


@pytest.mark.parametrize("days_later", range(7))
def test_what_nobody_expected_has_a_rising_theme_today(db: Database, settings: Settings, days_later: int) -> None:
    """The product team's page of the demo had nothing to show: every note as frequent every day. And on
    some days of the week (a Sunday): the rising note was among the everyday ones too, so with the few
    notes of a weekend its rise was within chance."""
    now = NOW + dt.timedelta(days=days_later)
    demo.load(db, settings=settings, now=now)
    with db.session() as session:
        launch = launches.get_by_slug(session, "payapp-5-redesign")
        found = themes.surprises(session, launch, now=now)
    # "Widget on the home screen disappeared": its phrases are in the very same notes, so one theme
    # tells them (since 4ad19bb), the best scored of them.
    assert any(word in theme.phrase.casefold() for theme in found.themes for word in ("widget", "home screen"))


def test_a_later_day_adds_only_the_new_days_enquiries(db: Database, settings: Settings) -> None:
    demo.load(db, settings=settings, now=NOW)
    later = demo.load(db, settings=settings, now=NOW + dt.timedelta(hours=3))
    assert 0 < later.added_enquiries < 150


def test_the_welcome_says_where_to_go_and_how_each_demo_user_signs_in(db: Database, settings: Settings) -> None:
    report = demo.load(db, settings=settings, now=NOW)
    text = demo.welcome(report, address="http://127.0.0.1:8000", database_url=db.url)
    assert "Open http://127.0.0.1:8000 and sign in as:" in text
    with db.session() as session:
        for person in demo.DEMO_USERS:
            [line] = [line for line in text.splitlines() if line.split()[:1] == [person.username]]
            password = line.split()[2]
            user = auth.get_user(session, person.username)
            assert user is not None and user.role.value in line
            assert auth.verify_password(password, user.password_hash), f"the printed password of {person.username}"


def test_the_demo_never_writes_into_a_database_with_real_work(db: Database, settings: Settings) -> None:
    """It moves its launch's dates, adds enquiries to it and users whose passwords it prints: a database
    with a launch or a user it did not make (the README's own hypotheses import, say) is refused."""
    with db.transaction() as session:
        auth.add_user(
            session,
            username="lena",
            role=Role.LEAD,
            display_name="Lena",
            password="her-own-pass-1",
            now=NOW,
            actor="ada",
        )
    with pytest.raises(demo.NotADemoDatabase, match="user lena") as refused:
        demo.load(db, settings=settings, now=NOW)
    assert "--force" in refused.value.message
    forced = demo.load(db, settings=settings, now=NOW, force=True)
    assert "lena" not in forced.passwords  # she keeps her own, and it is not printed as the demo's
    text = demo.welcome(forced, address="http://127.0.0.1:8000", database_url="postgresql+psycopg://u:hunter2@db/x")
    assert "hunter2" not in text and "not made by the demo" in text
    with pytest.raises(demo.NotADemoDatabase, match="TALLY_ENV=production"):
        demo.load(db, settings=settings.model_copy(update={"env": "production"}), now=NOW, force=True)


def test_a_second_run_never_prints_a_password_that_was_changed_since(tmp_path: Path) -> None:
    """After `tally users passwd ola`, a second `tally demo` printed ola's demo password, refused at sign-in."""
    database = tmp_path / "tally.db"
    env = {"TALLY_DATABASE_URL": f"sqlite:///{database}"}
    welcomed = "Demo passwords are public"
    with started("demo", "--port", str(free_port()), env=env, cwd=tmp_path, ready=welcomed) as first:
        assert "demo-ola-pass" in first.output
    changed = run_tally("users", "passwd", "ola", "--password-stdin", env=env, cwd=tmp_path, input="ola-own-secret-1\n")
    assert changed.returncode == 0, changed.stderr
    # And a demo user disabled since, another made a lead: not a password that is refused, nor a stale role.
    assert run_tally("users", "disable", "sofia", env=env, cwd=tmp_path).returncode == 0
    assert run_tally("users", "role", "kari", "lead", env=env, cwd=tmp_path).returncode == 0
    with started("demo", "--port", str(free_port()), env=env, cwd=tmp_path, ready=welcomed) as second:
        output = second.output
    assert "demo-ola-pass" not in output
    assert "tally users passwd ola" in output and "changed since" in output
    assert "demo-kari-pass" in output
    assert "demo-sofia-pass" not in output and "tally users enable sofia" in output
    assert re.search(r"kari +password demo-kari-pass +lead:", output), output
    # Not reset either: ola's own password still signs in, and kari's printed one does.
    engine = sa.create_engine(env["TALLY_DATABASE_URL"])
    with engine.connect() as connection:
        rows = connection.execute(sa.text("SELECT username, password_hash FROM tally_user")).all()
    hashes: dict[str, str] = {str(name): str(hashed) for name, hashed in rows}
    engine.dispose()
    assert auth.verify_password("ola-own-secret-1", hashes["ola"])
    assert auth.verify_password("demo-kari-pass", hashes["kari"])
