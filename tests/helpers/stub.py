"""Clients of the provider stub (third_party.py) as tests read and steer it over HTTP."""

from collections.abc import Callable

import requests

from third_party import FailureSettings


class StubClient:
    """Reads and steers the stub provider over HTTP, as a chaos or e2e run would."""

    def __init__(self, url: str):
        self.url = url

    def messages(self, alert_uuid: str | None = None, channel: str | None = None) -> dict:
        """The stub's record of received messages, of one alert and/or one channel if given."""
        params = {
            name: value for name, value in {"alert_uuid": alert_uuid, "channel": channel}.items() if value
        }
        return requests.get(f"{self.url}/messages", params=params, timeout=5).json()

    def control(self, **settings) -> dict:
        """Change the stub's failure injection."""
        response = requests.put(f"{self.url}/control", json=settings, timeout=5)
        response.raise_for_status()
        return response.json()


class SmtpStub(StubClient):
    """The stub with its SMTP server: HTTP to read and steer it, `port` on 127.0.0.1 to send mail to."""

    def __init__(self, url: str, port: int):
        super().__init__(url)
        self.port = port


StartStub = Callable[[FailureSettings | None], str]
StartSmtpStub = Callable[..., SmtpStub]
