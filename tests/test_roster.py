"""A shop's roster: imported whole from a CSV or an iCalendar feed (shop time, offsets, TZID, UTC, floating,
daylight-saving days), refused whole with reasons, warned about people no alert reaches, audited; and who is
on shift at a moment (`on_shift_staff`), which erasure and detaching a person change."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from nootification.models import AuditEntry, ContactPoint, Location, Shift, User
from nootification.services.recipients import has_roster, on_shift_staff
from nootification.services.roster import MAX_BYTES, MAX_SHIFTS
from tests.helpers.factories import make_location, make_user

SHOP = "fr-auchan-larochelle"
CSV = "text/csv"
ICAL = "text/calendar"
SPAN = "2027-05-03T08:00,2027-05-03T12:00"
ZULU = ("DTSTART:20270503T080000Z", "DTEND:20270503T120000Z")


@pytest.fixture
def shop(db) -> Location:
    return make_location(SHOP, timezone="Europe/Paris")


def person(db, *shops: Location, email: str | None = None, **points: bool) -> User:
    """A member of staff of these shops, with an email contact point and others (channel=enabled) if given."""
    user = make_user(*shops)
    if email:
        db.session.add(ContactPoint(user=user, channel="email", address=email))
    for channel, enabled in points.items():
        db.session.add(ContactPoint(user=user, channel=channel, address="+33612345678", enabled=enabled))
    db.session.commit()
    return user


def put(client, body: str, content_type: str = CSV, shop: str = SHOP):
    return client.put(f"/locations/{shop}/roster", data=body.encode(), content_type=content_type)


def csv(*lines: str) -> str:
    return "\n".join(["user,start,end", *lines]) + "\n"


def calendar(*events: str) -> str:
    body = "".join(
        f"BEGIN:VEVENT\r\nUID:{number}\r\n{event}END:VEVENT\r\n" for number, event in enumerate(events)
    )
    return f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//tests//roster//EN\r\n{body}END:VCALENDAR\r\n"


def event(start: str, end: str, *attendees: str, extra: str = "") -> str:
    lines = [start, end, *(f"ATTENDEE:{attendee}" for attendee in attendees)]
    return "".join(f"{line}\r\n" for line in lines if line) + extra


def stored(db, shop: Location) -> list[tuple[int, datetime, datetime]]:
    db.session.expire_all()
    rows = db.session.execute(
        sa.select(Shift.user_id, Shift.starts_at, Shift.ends_at)
        .where(Shift.location_id == shop.id)
        .order_by(Shift.user_id, Shift.starts_at)
    )
    return [tuple(row) for row in rows]


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def test_a_csv_roster_reads_shop_time_offsets_and_a_daylight_saving_day(client, db, shop):
    camille = person(db, shop, email="Camille@Example.com")
    hugo = person(db, shop)
    answer = put(
        client,
        csv(
            # 28 March 2027: Paris goes from +01:00 to +02:00 at 02:00, so midnight to 08:00 is 7 hours.
            "camille@example.com,2027-03-28T00:00,2027-03-28T08:00",
            f"{hugo.user_uuid},2027-03-29T09:00:00+00:00,2027-03-29T17:00Z",
            # A skipped wall time takes the offset before the change; a repeated one is its first occurrence.
            f"{hugo.user_uuid},2027-03-28T02:30,2027-03-28T04:00",
            f"{hugo.user_uuid},2027-10-31T02:30,2027-10-31 06:00",
        ),
    )
    assert answer.status_code == 200, answer.json
    assert answer.json == {"shifts": 4, "people": 2, "warnings": []}
    assert stored(db, shop) == [
        (camille.id, utc(2027, 3, 27, 23), utc(2027, 3, 28, 6)),
        (hugo.id, utc(2027, 3, 28, 1, 30), utc(2027, 3, 28, 2)),
        (hugo.id, utc(2027, 3, 29, 9), utc(2027, 3, 29, 17)),
        (hugo.id, utc(2027, 10, 31, 0, 30), utc(2027, 10, 31, 5)),
    ]
    db.session.refresh(shop)
    assert has_roster(shop)


def test_an_icalendar_roster_reads_tzid_utc_floating_and_duration(client, db, shop):
    camille = person(db, shop, email="camille@example.com")
    hugo, elise = person(db, shop), person(db, shop)
    feed = calendar(
        event(
            "DTSTART;TZID=Europe/Paris:20270328T000000",
            "DTEND;TZID=Europe/Paris:20270328T080000",
            "mailto:CAMILLE@example.com",
        ),
        event(
            "DTSTART;TZID=America/New_York:20270401T090000",
            "DURATION:PT8H",
            f"urn:uuid:{hugo.user_uuid}",
        ),
        event("DTSTART:20270402T060000Z", "DTEND:20270402T140000Z", f"urn:uuid:{elise.user_uuid}"),
        # Floating: the shop's wall time, here +02:00.
        event("DTSTART:20270403T080000", "DTEND:20270403T120000", f"urn:uuid:{elise.user_uuid}"),
        # One event with two people gives each a shift.
        event(
            "DTSTART:20270404T080000Z",
            "DTEND:20270404T100000Z",
            "mailto:camille@example.com",
            f"urn:uuid:{hugo.user_uuid}",
        ),
        event(
            "DTSTART:20270405T080000Z",
            "DTEND:20270405T100000Z",
            "mailto:nobody@example.com",
            extra="STATUS:CANCELLED\r\n",
        ),
    )
    answer = put(client, feed, ICAL)
    assert answer.status_code == 200, answer.json
    assert answer.json == {"shifts": 6, "people": 3, "warnings": []}
    assert stored(db, shop) == [
        (camille.id, utc(2027, 3, 27, 23), utc(2027, 3, 28, 6)),
        (camille.id, utc(2027, 4, 4, 8), utc(2027, 4, 4, 10)),
        (hugo.id, utc(2027, 4, 1, 13), utc(2027, 4, 1, 21)),
        (hugo.id, utc(2027, 4, 4, 8), utc(2027, 4, 4, 10)),
        (elise.id, utc(2027, 4, 2, 6), utc(2027, 4, 2, 14)),
        (elise.id, utc(2027, 4, 3, 6), utc(2027, 4, 3, 10)),
    ]


def test_a_date_alone_is_the_shops_midnight(client, db, shop):
    camille, hugo = person(db, shop), person(db, shop)
    feed = calendar(event("DTSTART;VALUE=DATE:20270503", "", f"urn:uuid:{camille.user_uuid}"))
    assert put(client, feed, ICAL).status_code == 200
    assert put(client, csv(f"{hugo.user_uuid},2027-05-03,2027-05-05")).status_code == 200
    assert stored(db, shop) == [(hugo.id, utc(2027, 5, 2, 22), utc(2027, 5, 4, 22))]
    put(client, feed, ICAL)
    assert stored(db, shop) == [(camille.id, utc(2027, 5, 2, 22), utc(2027, 5, 3, 22))]


def test_the_roster_shows_current_and_upcoming_shifts_in_utc_and_shop_time(client, db, shop):
    camille = person(db, shop)
    now = datetime.now(UTC).replace(microsecond=0)
    past = (now - timedelta(hours=9), now - timedelta(hours=1))
    current = (now, now + timedelta(hours=2))
    upcoming = (now + timedelta(days=1), now + timedelta(days=1, hours=3))
    lines = [
        f"{camille.user_uuid},{start.isoformat()},{end.isoformat()}"
        for start, end in (past, current, upcoming)
    ]
    assert put(client, csv(*lines)).status_code == 200
    roster = client.get(f"/locations/{SHOP}/roster").json
    assert roster["timezone"] == "Europe/Paris" and roster["updated_at"]
    assert [(s["user"], s["starts_at"], s["ends_at"]) for s in roster["shifts"]] == [
        (camille.user_uuid, start.isoformat(), end.isoformat()) for start, end in (current, upcoming)
    ]
    local = datetime.fromisoformat(roster["shifts"][0]["starts_at_local"])
    assert local == current[0] and local.utcoffset() in (timedelta(hours=1), timedelta(hours=2))


def test_a_persons_overlapping_and_touching_shifts_are_merged(client, db, shop):
    camille, hugo = person(db, shop), person(db, shop)
    answer = put(
        client,
        csv(
            f"{camille.user_uuid},2027-05-03T08:00,2027-05-03T12:00",
            f"{camille.user_uuid},2027-05-03T11:00,2027-05-03T14:00",
            f"{camille.user_uuid},2027-05-03T14:00,2027-05-03T16:00",
            f"{camille.user_uuid},2027-05-03T09:00,2027-05-03T10:00",
            f"{camille.user_uuid},2027-05-03T18:00,2027-05-03T20:00",
            f"{hugo.user_uuid},2027-05-03T10:00,2027-05-03T11:00",
        ),
    )
    assert answer.json == {"shifts": 3, "people": 2, "warnings": []}
    assert stored(db, shop) == [
        (camille.id, utc(2027, 5, 3, 6), utc(2027, 5, 3, 14)),
        (camille.id, utc(2027, 5, 3, 16), utc(2027, 5, 3, 18)),
        (hugo.id, utc(2027, 5, 3, 8), utc(2027, 5, 3, 9)),
    ]


def test_a_new_roster_replaces_the_old_whole_and_a_refused_one_changes_nothing(client, db, shop):
    camille, hugo = person(db, shop), person(db, shop)
    put(client, csv(f"{camille.user_uuid},2027-05-03T08:00,2027-05-03T12:00"))
    assert put(client, csv(f"{hugo.user_uuid},2027-05-04T08:00,2027-05-04T12:00")).status_code == 200
    assert stored(db, shop) == [(hugo.id, utc(2027, 5, 4, 6), utc(2027, 5, 4, 10))]
    updated_at = db.session.get(Location, shop.id).roster_updated_at

    refused = put(
        client,
        csv(
            f"{camille.user_uuid},2027-05-05T08:00,2027-05-05T12:00",
            f"{hugo.user_uuid},tomorrow,2027-05-05T12:00",
        ),
    )
    assert refused.status_code == 422
    assert stored(db, shop) == [(hugo.id, utc(2027, 5, 4, 6), utc(2027, 5, 4, 10))]
    assert db.session.get(Location, shop.id).roster_updated_at == updated_at


def test_an_empty_roster_is_a_roster_and_deleting_it_tells_everyone_again(client, db, shop):
    camille = person(db, shop)
    put(client, csv(f"{camille.user_uuid},2027-05-03T08:00,2027-05-03T12:00"))
    assert put(client, csv()).json == {"shifts": 0, "people": 0, "warnings": []}
    db.session.refresh(shop)
    assert has_roster(shop) and stored(db, shop) == []

    put(client, csv(f"{camille.user_uuid},2027-05-03T08:00,2027-05-03T12:00"))
    assert client.delete(f"/locations/{SHOP}/roster").status_code == 204
    db.session.refresh(shop)
    assert not has_roster(shop) and stored(db, shop) == []
    assert client.get(f"/locations/{SHOP}/roster").json == {
        "updated_at": None,
        "timezone": "Europe/Paris",
        "shifts": [],
    }


def test_people_no_alert_would_reach_are_warned_of(client, db, shop):
    reachable = person(db, shop, sms=True, push=False)
    unreachable = person(db, shop, sms=False, push=False)
    pushed = person(db, shop)  # nothing stored: the push provider reaches them by their uuid, as for anyone
    answer = put(
        client,
        csv(
            *(
                f"{user.user_uuid},2027-05-03T08:00,2027-05-03T12:00"
                for user in (reachable, unreachable, pushed)
            )
        ),
    )
    assert answer.status_code == 200
    assert answer.json["warnings"] == [
        {
            "user": unreachable.user_uuid,
            "reason": "No enabled contact point: this person would hear of no alert while on shift.",
        }
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("body", "field", "reason"),
    [
        ("user,begin,end\n", "roster", "start is missing"),
        ("", "roster", "user is missing"),
        (csv("{camille},2027-05-03 8h,2027-05-03T12:00"), "line 2.start", "date and time: '2027-05-03 8h'"),
        (csv("{camille},2027-05-03T08:00,"), "line 2.end", "Not an ISO 8601"),
        (csv(",2027-05-03T08:00,2027-05-03T12:00"), "line 2.user", "Missing"),
        (csv(f"{{camille}},{SPAN}", f"ghost@example.com,{SPAN}"),
         "line 3.user", "No user with this uuid or email: ghost@example.com"),
        (csv("0b0b5d5e-0000-4000-8000-000000000000,2027-05-03T08:00,2027-05-03T12:00"), "line 2.user",
         "No user with this uuid or email: 0b0b5d5e-0000-4000-8000-000000000000"),
        (csv("{camille},2027-05-03T12:00,2027-05-03T12:00"), "line 2.end", "Ends at or before its start"),
        (csv("{camille},2027-05-03T12:00+02:00,2027-05-03T09:00Z"), "line 2.end", "Ends at or before"),
        (csv("{stranger},2027-05-03T08:00,2027-05-03T12:00"), "line 2.user", "is not attached to this shop"),
        (csv(f"twin@example.com,{SPAN}"), "line 2.user", "Several users have the email"),
    ],
    ids=["header", "empty", "start", "end", "no-user", "unknown-email", "unknown-uuid", "zero-length",
         "backwards", "other-shop", "shared-email"],
)  # fmt: skip
def test_a_bad_csv_is_refused_whole_naming_line_field_and_reason(client, db, shop, body, field, reason):
    camille = person(db, shop)
    stranger = person(db, make_location("fr-carrefour-niort"))
    person(db, shop, email="twin@example.com")
    person(db, shop, email="Twin@example.com")
    answer = put(client, body.format(camille=camille.user_uuid, stranger=stranger.user_uuid))
    assert answer.status_code == 422, answer.json
    assert answer.json["message"] == "The roster was refused: nothing was stored."
    assert list(answer.json["errors"]) == [field]
    assert reason in answer.json["errors"][field][0]
    assert stored(db, shop) == [] and not has_roster(db.session.get(Location, shop.id))


@pytest.mark.parametrize(
    ("feed", "field", "reason"),
    [
        ("hello", "roster", "Not an iCalendar feed"),
        ("BEGIN:VCARD\r\nEND:VCARD\r\n", "roster", "Not an iCalendar feed"),
        (calendar(event(*ZULU)), "event 1.ATTENDEE", "Missing"),
        (calendar(event("DTSTART:20270503T080000Z", "DTEND:20270503T120000Z", "tel:+33612345678")),
         "event 1.ATTENDEE", "Not mailto:<email> nor urn:uuid:<user uuid>"),
        (calendar(event("DTSTART:20270503T080000Z", "DTEND:20270503T120000Z", "urn:uuid:camille")),
         "event 1.ATTENDEE", "Not a uuid"),
        (calendar(event("DTSTART:20270503T080000Z", "DTEND:20270503T120000Z", "mailto:ghost@example.com")),
         "event 1.ATTENDEE", "No user with this uuid or email: ghost@example.com"),
        (calendar(event("DTSTART:soon", "DTEND:20270503T120000Z", "urn:uuid:{camille}")), "event 1.DTSTART",
         "Not readable"),
        (calendar(event("DTSTART;TZID=Mars/Olympus:20270503T080000", ZULU[1], "urn:uuid:{camille}")),
         "event 1.DTSTART", "Unknown timezone 'Mars/Olympus'"),
        (calendar(event("DTSTART:20270503T080000Z", "", "urn:uuid:{camille}")), "event 1.DTEND",
         "Ends at or before its start"),
        (calendar(event("DTSTART:20270503T080000Z", "DTEND:20270503T070000Z", "urn:uuid:{camille}")),
         "event 1.DTEND", "Ends at or before its start"),
        (calendar(event("DTSTART:20270503T080000Z", "DTEND:20270503T120000Z", "urn:uuid:{camille}",
                        extra="RRULE:FREQ=WEEKLY\r\n")), "event 1.RRULE", "one VEVENT per shift"),
        (calendar(event("", "DTEND:20270503T120000Z", "urn:uuid:{camille}")), "event 1.DTSTART", "Missing"),
    ],
    ids=["not-ical", "vcard", "no-attendee", "tel", "bad-uuid", "unknown", "dtstart", "tzid", "no-end",
         "backwards", "rrule", "no-start"],
)  # fmt: skip
def test_a_bad_icalendar_feed_is_refused_whole_naming_event_property_and_reason(
    client, db, shop, feed, field, reason
):
    camille = person(db, shop)
    answer = put(client, feed.replace("{camille}", camille.user_uuid), ICAL)
    assert answer.status_code == 422, answer.json
    assert list(answer.json["errors"]) == [field]
    assert reason in answer.json["errors"][field][0], answer.json
    assert stored(db, shop) == []


def test_every_problem_is_listed_up_to_a_bound(client, db, shop):
    lines = [f"ghost{n}@example.com,2027-05-03T08:00,2027-05-03T12:00" for n in range(30)]
    errors = put(client, csv(*lines)).json["errors"]
    assert len(errors) == 21 and errors["roster"] == ["10 more problems."]
    assert errors["line 2.user"] == ["No user with this uuid or email: ghost0@example.com."]


def test_a_roster_that_is_not_utf8_is_refused(client, db, shop):
    answer = client.put(
        f"/locations/{SHOP}/roster", data="user,start,end\nÉlise".encode("latin-1"), content_type=CSV
    )
    assert answer.status_code == 422 and answer.json["errors"] == {"roster": ["Not UTF-8 text."]}


@pytest.mark.parametrize(
    "content_type", ["application/json", "text/plain", "application/x-www-form-urlencoded", None]
)
def test_a_roster_in_another_media_type_is_refused_with_415(client, db, shop, content_type):
    answer = client.put(f"/locations/{SHOP}/roster", data=b"user,start,end\n", content_type=content_type)
    assert answer.status_code == 415
    assert answer.json["code"] == 415 and "text/csv or text/calendar" in answer.json["message"]
    assert not has_roster(db.session.get(Location, shop.id))


def test_a_roster_takes_up_to_its_shift_and_byte_limits(client, db, shop):
    camille = person(db, shop)
    day = datetime(2027, 5, 3, tzinfo=UTC)
    starts = [day + timedelta(hours=2 * n) for n in range(MAX_SHIFTS + 1)]
    lines = [
        f"{camille.user_uuid},{start.isoformat()},{(start + timedelta(hours=1)).isoformat()}"
        for start in starts
    ]
    body = csv(*lines[:MAX_SHIFTS])
    assert 64 * 1024 < len(body) < MAX_BYTES  # past the API's usual body limit: the roster has its own
    assert put(client, body).json["shifts"] == MAX_SHIFTS
    too_many = put(client, csv(*lines))
    assert too_many.status_code == 413 and too_many.json["errors"] == {
        "roster": [f"More than {MAX_SHIFTS} shifts in one roster."]
    }
    too_big = put(client, csv(*lines[:10]) + "," * MAX_BYTES)
    assert too_big.status_code == 413 and too_big.json["code"] == 413
    assert len(stored(db, shop)) == MAX_SHIFTS


def test_an_unknown_shop_has_no_roster(client, db):
    assert put(client, csv(), shop="nowhere").status_code == 404
    assert client.get("/locations/nowhere/roster").status_code == 404
    assert client.delete("/locations/nowhere/roster").status_code == 404


def test_a_shop_whose_name_holds_a_slash_has_a_roster(client, db):
    shop = make_location("fr/auchan", timezone="Europe/Paris")
    camille = person(db, shop)
    assert (
        put(
            client, csv(f"{camille.user_uuid},2027-05-03T08:00,2027-05-03T12:00"), shop="fr/auchan"
        ).status_code
        == 200
    )
    assert client.get("/locations/fr/auchan").json["name"] == "fr/auchan"
    assert len(stored(db, shop)) == 1


def test_a_roster_change_is_audited_with_counts_only(client, db, shop):
    camille = person(db, shop, email="camille@example.com")
    put(
        client,
        csv(
            "camille@example.com,2027-05-03T08:00,2027-05-03T12:00",
            "camille@example.com,2027-05-04T08:00,2027-05-04T12:00",
        ),
    )
    put(client, csv(f"{camille.user_uuid},2027-05-05T08:00,2027-05-05T12:00"))
    client.delete(f"/locations/{SHOP}/roster")
    entries = db.session.scalars(
        sa.select(AuditEntry)
        .where(AuditEntry.target_id == SHOP, AuditEntry.action.like("roster.%"))
        .order_by(AuditEntry.id)
    ).all()
    assert [entry.action for entry in entries] == ["roster.replace", "roster.replace", "roster.delete"]
    first, second, removal = entries
    assert first.before is None and (first.after["shifts"], first.after["people"]) == (2, 1)
    assert second.before == first.after and (second.after["shifts"], second.after["people"]) == (1, 1)
    assert removal.before == second.after and removal.after is None
    assert "camille@example.com" not in str([entry.after for entry in entries])


def test_the_roster_put_documents_its_media_types(anonymous):
    operation = anonymous.get("/openapi.json").json["paths"]["/locations/{name}/roster"]["put"]
    assert set(operation["requestBody"]["content"]) == {CSV, ICAL}
    assert {"200", "404", "413", "415", "422"} <= set(operation["responses"])


def add_shift(db, shop: Location, user: User, start: datetime, end: datetime) -> None:
    db.session.add(Shift(location_id=shop.id, user_id=user.id, starts_at=start, ends_at=end))
    db.session.commit()


def test_on_shift_staff_counts_a_shifts_start_but_not_its_end(db, shop):
    camille, hugo = person(db, shop, sms=True), person(db, shop)
    start, end = utc(2027, 5, 3, 8), utc(2027, 5, 3, 16)
    add_shift(db, shop, camille, start, end)
    add_shift(db, shop, hugo, end, end + timedelta(hours=8))
    on_shift = lambda at: [(staff.id, len(staff.contact_points)) for staff in on_shift_staff(shop.id, at)]  # noqa: E731
    assert on_shift(start - timedelta(microseconds=1)) == []
    assert on_shift(start) == [(camille.id, 1)]
    assert on_shift(end - timedelta(microseconds=1)) == [(camille.id, 1)]
    assert on_shift(end) == [(hugo.id, 0)]
    assert on_shift(end.astimezone(ZoneInfo("Europe/Paris"))) == [(hugo.id, 0)]


def test_on_shift_staff_names_a_person_once_and_only_at_this_shop_while_attached(db, shop):
    other = make_location("fr-carrefour-niort")
    camille, hugo = person(db, shop, sms=True, email="camille@example.com"), person(db, shop, other)
    at = utc(2027, 5, 3, 10)
    add_shift(db, shop, camille, utc(2027, 5, 3, 8), utc(2027, 5, 3, 12))
    add_shift(db, shop, camille, utc(2027, 5, 3, 9), utc(2027, 5, 3, 11))
    add_shift(db, other, hugo, utc(2027, 5, 3, 8), utc(2027, 5, 3, 12))
    [staff] = on_shift_staff(shop.id, at)
    assert staff.id == camille.id and sorted(point.channel for point in staff.contact_points) == [
        "email",
        "sms",
    ]
    assert [staff.id for staff in on_shift_staff(other.id, at)] == [hugo.id]
    hugo.locations = [shop]
    db.session.commit()
    assert on_shift_staff(other.id, at) == []


def test_erasing_or_removing_a_person_removes_their_shifts(client, db, shop):
    camille, hugo, elise = person(db, shop), person(db, shop), person(db, shop)
    lines = [f"{user.user_uuid},2027-05-03T08:00,2027-05-03T12:00" for user in (camille, hugo, elise)]
    put(client, csv(*lines))
    assert client.post(f"/users/{camille.user_uuid}/erase").status_code == 200
    assert client.delete(f"/users/{hugo.user_uuid}").status_code == 204
    assert [row[0] for row in stored(db, shop)] == [elise.id]
    assert [staff.id for staff in on_shift_staff(shop.id, utc(2027, 5, 3, 7))] == [elise.id]


def test_a_persons_shifts_are_in_their_export_and_go_with_their_shop(client, db, shop):
    camille = person(db, shop)
    put(client, csv(f"{camille.user_uuid},2027-05-03T08:00,2027-05-03T12:00"))
    export = client.get(f"/users/{camille.user_uuid}/export").json
    assert export["shifts"] == [
        {"location": SHOP, "starts_at": "2027-05-03T06:00:00+00:00", "ends_at": "2027-05-03T10:00:00+00:00"}
    ]
    assert client.delete(f"/locations/{SHOP}").status_code == 204
    assert db.session.scalar(sa.select(sa.func.count(Shift.id))) == 0
