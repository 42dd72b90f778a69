import pytest

from nootification.models import Alert, Level, Severity, severity_for
from nootification.services.recipients import Recipient, recipients_among, staff_of, wants_alert
from tests.helpers.factories import make_location, make_user


def recipients_of_shop(alert) -> list[Recipient]:
    """Each (user, channel, device) of the alert's shop's own staff it goes to."""
    return recipients_among(alert, staff_of(alert.location.id))


@pytest.mark.parametrize(
    ("level", "severity", "expected"),
    [
        (Level.STANDARD, Severity.STANDARD, True),
        (Level.STANDARD, Severity.CRITICAL, True),
        (Level.CRITICAL, Severity.CRITICAL, True),
        (Level.CRITICAL, Severity.STANDARD, False),
    ],
)
def test_preference_rule(level, severity, expected):
    assert wants_alert(level, severity) is expected


@pytest.mark.parametrize(
    ("label", "critical_labels", "expected"),
    [
        ("theft", ("theft",), Severity.CRITICAL),
        ("suspicious", ("theft",), Severity.STANDARD),
        ("normal", ("theft",), Severity.STANDARD),
        ("suspicious", ("theft", "suspicious"), Severity.CRITICAL),
        ("theft", (), Severity.STANDARD),
    ],
)
def test_severity_from_label(label, critical_labels, expected):
    assert severity_for(label, critical_labels) is expected


def test_recipients_are_the_shop_staff_whose_level_wants_the_alert(db):
    shop, other = make_location("fr-a"), make_location("fr-b")
    standard = make_user(shop, level=Level.STANDARD)
    critical_here_and_there = make_user(shop, other, level=Level.CRITICAL)
    make_user(other, level=Level.STANDARD)

    standard_alert = Alert(location=shop, severity=Severity.STANDARD)
    critical_alert = Alert(location=shop, severity=Severity.CRITICAL)

    assert recipients_of_shop(standard_alert) == [Recipient(standard.id, "push")]
    assert recipients_of_shop(critical_alert) == [
        Recipient(standard.id, "push"),
        Recipient(critical_here_and_there.id, "push"),
    ]
