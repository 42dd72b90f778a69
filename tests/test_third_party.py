import time

import pytest
import requests

from tests.conftest import StartStub
from third_party import FailureSettings, InvalidSettings

FIELDS = ("target_user_uuid", "url", "alert_uuid", "location", "label")
TIMEOUT = 5


@pytest.fixture
def stub_url(start_stub: StartStub) -> str:
    return start_stub()


def notification(alert_uuid: str = "alert-1", user: str = "user-1") -> dict[str, str]:
    return {
        "target_user_uuid": user,
        "url": f"https://media.example.com/{alert_uuid}.mp4",
        "alert_uuid": alert_uuid,
        "location": "fr-auchan-larochelle",
        "label": "theft",
    }


def post(stub_url: str, body: object, key: str | None = None, timeout: float = TIMEOUT) -> requests.Response:
    headers = {"Idempotency-Key": key} if key else {}
    return requests.post(f"{stub_url}/webhook/notifications/", json=body, headers=headers, timeout=timeout)


def messages(stub_url: str, **params: str) -> dict:
    response = requests.get(f"{stub_url}/messages", params=params, timeout=TIMEOUT)
    assert response.status_code == 200
    return response.json()


def control(stub_url: str, **changes: object) -> requests.Response:
    return requests.put(f"{stub_url}/control", json=changes, timeout=TIMEOUT)


@pytest.mark.parametrize("field", FIELDS)
def test_missing_field_is_400_naming_it(stub_url: str, field: str) -> None:
    body = notification()
    del body[field]

    response = post(stub_url, body)

    assert response.status_code == 400
    assert response.json() == {
        "code": 400,
        "status": "Bad Request",
        "message": "missing fields",
        "errors": {field: ["Missing data for required field."]},
    }
    assert messages(stub_url)["count"] == 0


def test_non_object_body_is_400(stub_url: str) -> None:
    response = post(stub_url, ["not", "an", "object"])

    assert response.status_code == 400
    assert response.json()["errors"] == {"_schema": ["Invalid input type."]}


def test_accepts_and_records_the_message(stub_url: str) -> None:
    body = {**notification(), "extra": "kept"}
    before = time.time()

    response = post(stub_url, body, key="k-1")

    assert response.status_code == 201
    assert response.json() == {"status": "accepted", "idempotency_key": "k-1"}
    listed = messages(stub_url)
    assert (listed["count"], listed["raw_receipts"], listed["duplicates"]) == (1, 1, 0)
    [message] = listed["messages"]
    received_at = message.pop("received_at")
    assert before <= received_at <= time.time()
    assert message == {**body, "idempotency_key": "k-1", "receipts": 1}


def test_path_without_trailing_slash_is_served(stub_url: str) -> None:
    response = requests.post(f"{stub_url}/webhook/notifications", json=notification(), timeout=TIMEOUT)

    assert response.status_code == 201
    assert messages(stub_url)["count"] == 1


def test_same_idempotency_key_is_a_duplicate_not_a_new_message(stub_url: str) -> None:
    first = post(stub_url, notification(), key="k-1")
    second = post(stub_url, notification(), key="k-1")
    third = post(stub_url, notification(), key="k-1")

    assert first.status_code == 201
    assert second.status_code == 200
    assert second.json() == {"status": "accepted", "idempotency_key": "k-1", "duplicate": True}
    assert third.status_code == 200
    listed = messages(stub_url)
    assert (listed["count"], listed["raw_receipts"], listed["duplicates"]) == (1, 3, 2)
    assert listed["messages"][0]["receipts"] == 3


def test_without_key_every_post_is_its_own_message(stub_url: str) -> None:
    post(stub_url, notification())
    post(stub_url, notification())

    listed = messages(stub_url)
    assert (listed["count"], listed["raw_receipts"], listed["duplicates"]) == (2, 2, 0)
    assert [m["idempotency_key"] for m in listed["messages"]] == [None, None]


def test_filter_by_alert_uuid(stub_url: str) -> None:
    post(stub_url, notification("alert-a", "u1"), key="a1")
    post(stub_url, notification("alert-a", "u1"), key="a1")
    post(stub_url, notification("alert-a", "u2"), key="a2")
    post(stub_url, notification("alert-b", "u1"), key="b1")

    listed = messages(stub_url, alert_uuid="alert-a")

    assert (listed["count"], listed["raw_receipts"], listed["duplicates"]) == (2, 3, 1)
    assert sorted(m["target_user_uuid"] for m in listed["messages"]) == ["u1", "u2"]
    assert messages(stub_url, alert_uuid="alert-c")["count"] == 0


def test_delete_clears_messages_and_keys(stub_url: str) -> None:
    post(stub_url, notification(), key="k-1")

    response = requests.delete(f"{stub_url}/messages", timeout=TIMEOUT)

    assert response.status_code == 204
    assert messages(stub_url) == {"count": 0, "raw_receipts": 0, "duplicates": 0, "messages": []}
    assert post(stub_url, notification(), key="k-1").status_code == 201


@pytest.mark.parametrize(
    ("status", "retry_after"), [(500, None), (429, "3"), (400, None), (503, "3")], ids=str
)
def test_fail_next_answers_the_chosen_status_then_recovers(
    stub_url: str, status: int, retry_after: str | None
) -> None:
    assert control(stub_url, fail_next=2, fail_next_status=status, retry_after=3).status_code == 200

    failures = [post(stub_url, notification(), key="k-1") for _ in range(2)]
    recovered = post(stub_url, notification(), key="k-1")

    assert [r.status_code for r in failures] == [status, status]
    assert [r.headers.get("Retry-After") for r in failures] == [retry_after, retry_after]
    assert failures[0].json()["code"] == status
    assert recovered.status_code == 201
    listed = messages(stub_url)
    assert (listed["count"], listed["raw_receipts"]) == (1, 1)
    state = requests.get(f"{stub_url}/control", timeout=TIMEOUT).json()
    assert state["counters"]["rejected"] == 2
    assert state["settings"]["fail_next"] == 0


def test_error_rate_one_fails_every_post(stub_url: str) -> None:
    control(stub_url, error_rate=1.0)

    statuses = [post(stub_url, notification()).status_code for _ in range(5)]

    assert statuses == [500] * 5
    assert messages(stub_url)["count"] == 0


def test_rate_limit_rate_one_answers_429_with_retry_after(stub_url: str) -> None:
    control(stub_url, rate_limit_rate=1.0, retry_after=7)

    responses = [post(stub_url, notification()) for _ in range(3)]

    assert [(r.status_code, r.headers.get("Retry-After")) for r in responses] == [(429, "7")] * 3
    assert messages(stub_url)["count"] == 0


def test_latency_delays_the_answer(stub_url: str) -> None:
    control(stub_url, latency=0.3)

    started = time.monotonic()
    response = post(stub_url, notification())

    assert response.status_code == 201
    assert time.monotonic() - started >= 0.3


def test_hang_next_sleeps_then_answers_504_and_records_nothing(stub_url: str) -> None:
    control(stub_url, hang_next=1, hang_seconds=0.3)

    started = time.monotonic()
    hung = post(stub_url, notification())
    elapsed = time.monotonic() - started
    after = post(stub_url, notification())

    assert hung.status_code == 504
    assert elapsed >= 0.3
    assert after.status_code == 201
    assert messages(stub_url)["count"] == 1


def test_hang_outlasts_a_shorter_client_timeout(stub_url: str) -> None:
    control(stub_url, hang_rate=1.0, hang_seconds=0.5)

    with pytest.raises(requests.ReadTimeout):
        post(stub_url, notification(), timeout=0.1)


def test_seeded_random_failures_replay(start_stub: StartStub, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STUB_SEED", "7")
    runs = []
    for _ in range(2):
        stub_url = start_stub(FailureSettings(error_rate=0.5))
        runs.append([post(stub_url, notification()).status_code for _ in range(20)])

    assert runs[0] == runs[1]
    assert set(runs[0]) == {201, 500}


def test_control_shows_settings_and_counters(stub_url: str) -> None:
    post(stub_url, notification(), key="k-1")
    post(stub_url, notification(), key="k-1")

    state = requests.get(f"{stub_url}/control", timeout=TIMEOUT).json()

    assert state == {
        "settings": {
            "error_rate": 0.0,
            "rate_limit_rate": 0.0,
            "retry_after": 1,
            "latency": 0.0,
            "hang_rate": 0.0,
            "hang_seconds": 30.0,
            "fail_next": 0,
            "fail_next_status": 500,
            "hang_next": 0,
        },
        "counters": {"count": 1, "raw_receipts": 2, "duplicates": 1, "rejected": 0},
    }


def test_put_control_updates_and_returns_the_settings(stub_url: str) -> None:
    response = control(stub_url, error_rate=0.25, latency=1)

    assert response.status_code == 200
    settings = response.json()["settings"]
    assert (settings["error_rate"], settings["latency"], settings["rate_limit_rate"]) == (0.25, 1.0, 0.0)
    assert requests.get(f"{stub_url}/control", timeout=TIMEOUT).json()["settings"] == settings


@pytest.mark.parametrize(
    ("changes", "errors"),
    [
        ({"error_rate": 1.5}, {"error_rate": ["Must be between 0 and 1."]}),
        ({"latency": -1}, {"latency": ["Must be a finite number >= 0."]}),
        ({"retry_after": 1.5}, {"retry_after": ["Not a valid integer."]}),
        ({"fail_next": True}, {"fail_next": ["Not a valid number."]}),
        ({"hang_seconds": "10"}, {"hang_seconds": ["Not a valid number."]}),
        ({"fail_next_status": 200}, {"fail_next_status": ["Must be an HTTP error status (4xx or 5xx)."]}),
        ({"colour": "red"}, {"colour": ["Unknown field."]}),
        (
            {"error_rate": 0.1, "bogus": 1, "hang_rate": 2},
            {"bogus": ["Unknown field."], "hang_rate": ["Must be between 0 and 1."]},
        ),
    ],
    ids=str,
)
def test_put_control_rejects_bad_settings_with_422(stub_url: str, changes: dict, errors: dict) -> None:
    response = control(stub_url, **changes)

    assert response.status_code == 422
    assert response.json() == {
        "code": 422,
        "status": "Unprocessable Entity",
        "message": "invalid settings",
        "errors": errors,
    }
    # Nothing of a rejected update is applied, not even its valid part.
    assert requests.get(f"{stub_url}/control", timeout=TIMEOUT).json()["settings"]["error_rate"] == 0.0


def test_put_control_rejects_a_non_object(stub_url: str) -> None:
    response = requests.put(f"{stub_url}/control", json=[1], timeout=TIMEOUT)

    assert response.status_code == 422
    assert response.json()["errors"] == {"_schema": ["Invalid input type."]}


def test_reset_restores_healthy_defaults(start_stub: StartStub) -> None:
    stub_url = start_stub(FailureSettings(error_rate=1.0, latency=0.1, fail_next=3))

    response = requests.post(f"{stub_url}/control/reset", timeout=TIMEOUT)

    assert response.status_code == 200
    assert response.json()["settings"] == {
        "error_rate": 0.0,
        "rate_limit_rate": 0.0,
        "retry_after": 1,
        "latency": 0.0,
        "hang_rate": 0.0,
        "hang_seconds": 30.0,
        "fail_next": 0,
        "fail_next_status": 500,
        "hang_next": 0,
    }
    assert post(stub_url, notification()).status_code == 201


def test_app_does_not_consume_the_callers_settings(start_stub: StartStub) -> None:
    settings = FailureSettings(fail_next=1)
    stub_url = start_stub(settings)

    assert post(stub_url, notification()).status_code == 500
    assert settings.fail_next == 1


def test_from_env_reads_the_stub_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "STUB_ERROR_RATE": "0.2",
        "STUB_RATE_LIMIT_RATE": "0.1",
        "STUB_RETRY_AFTER": "4",
        "STUB_LATENCY": "0.05",
        "STUB_HANG_RATE": "0.01",
        "STUB_HANG_SECONDS": "12",
    }.items():
        monkeypatch.setenv(name, value)

    assert FailureSettings.from_env() == FailureSettings(
        error_rate=0.2, rate_limit_rate=0.1, retry_after=4, latency=0.05, hang_rate=0.01, hang_seconds=12.0
    )


def test_from_env_defaults_to_healthy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ERROR_RATE", "RATE_LIMIT_RATE", "RETRY_AFTER", "LATENCY", "HANG_RATE", "HANG_SECONDS"):
        monkeypatch.delenv(f"STUB_{name}", raising=False)

    assert FailureSettings.from_env() == FailureSettings()


@pytest.mark.parametrize(
    ("name", "value", "field"),
    [("STUB_ERROR_RATE", "lots", "error_rate"), ("STUB_RETRY_AFTER", "1.5", "retry_after")],
)
def test_from_env_rejects_bad_values(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, field: str
) -> None:
    monkeypatch.setenv(name, value)

    with pytest.raises(InvalidSettings) as raised:
        FailureSettings.from_env()

    assert list(raised.value.errors) == [field]
