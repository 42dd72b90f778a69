"""Twilio's REST API as both Twilio channels use it: one form POST to a resource of the account, with basic
auth; Twilio's `{code, message}` error quoted with phone numbers and the account masked; the created
resource's SID kept as the attempt's provider reference (status callbacks name it)."""

import re
from collections.abc import Mapping

from nootification.senders.base import Message, MessageSender, PermanentSendError
from nootification.senders.http import json_body, raise_for_status
from nootification.senders.transport import HttpClient

E164 = re.compile(r"\+[1-9]\d{6,14}")
# The attempt's provider_ref column; Twilio's SIDs are 34 characters.
MAX_REF = 128


def mask_numbers(text: str) -> str:
    """`text` with every E.164 number but its last two digits hidden; Twilio quotes the number in errors."""
    return E164.sub(lambda match: "+" + "*" * (len(match.group()) - 3) + match.group()[-2:], text)


class TwilioSender(MessageSender):
    """What the SMS and voice senders share: the account, the number they send from, one POST."""

    secret_names = ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN")

    def __init__(self, config: Mapping):
        super().__init__(config)
        self.api_url = config["TWILIO_API_URL"].rstrip("/")
        self.from_number = config["TWILIO_FROM_NUMBER"]
        self.timeout = (config["HTTP_CONNECT_TIMEOUT"], config["HTTP_READ_TIMEOUT"])
        self.http = HttpClient(config)

    def create(self, resource: str, message: Message, form: Mapping[str, str]) -> str | None:
        """POST `form`, with To (the message's address) and From, to the account's `resource`
        (`Messages.json`, `Calls.json`) once; the SID Twilio gave what it created."""
        to = self.address(message)
        if not E164.fullmatch(self.from_number):
            raise PermanentSendError("TWILIO_FROM_NUMBER is not an E.164 phone number")
        sid = self.required_secret("TWILIO_ACCOUNT_SID")
        token = self.required_secret("TWILIO_AUTH_TOKEN")
        response = self.http.post(
            f"{self.api_url}/2010-04-01/Accounts/{sid}/{resource}",
            form={"To": to, "From": self.from_number, **form},
            auth=(sid, token),
            timeout=self.timeout,
        )
        answer = json_body(response)
        # Twilio's 404 message quotes the request path, and with it the account SID.
        detail = mask_numbers(str(answer.get("message") or response.reason)).replace(sid, "<account>")
        raise_for_status(
            response, reason=f"HTTP {response.status_code}: Twilio {answer.get('code')}: {detail}"
        )
        created = answer.get("sid")
        return str(created)[:MAX_REF] if created else None
