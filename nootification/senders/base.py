"""The sender interface and its errors: a sender makes one attempt and says how it failed."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar
from urllib.parse import urlsplit

from marshmallow import Schema

from nootification.config import read_secret
from nootification.i18n import mark as _
from nootification.ssrf import non_public_reason


class SendError(Exception):
    """A message could not be delivered."""

    def __init__(self, reason: str, *, http_status: int | None = None, retry_after: float | None = None):
        super().__init__(reason)
        self.http_status = http_status
        self.retry_after = retry_after


class TransientSendError(SendError):
    """A failure worth retrying: network trouble, a timeout, a 5xx, a 408 or a 429."""


class PermanentSendError(SendError):
    """A failure that retrying cannot fix, such as a 4xx refusal of the message."""


class ContactGoneError(PermanentSendError):
    """The provider says the address no longer exists (a push subscription or device token): the contact
    point is turned off, with this error as the reason."""


@dataclass(frozen=True)
class Message:
    """Everything a channel needs to tell one user about one alert."""

    delivery_id: str
    user_uuid: str
    address: str | None
    alert_uuid: str
    url: str
    location: str
    label: str
    severity: str
    time_spotted: float
    subject: str = ""
    body: str = ""
    options: Mapping = field(default_factory=dict)
    # The recipient's personal link to the staff page ("I'm on it", the outcome); None when not configured.
    action_url: str | None = None
    # When the alert goes stale (epoch seconds): push services drop the message after it (TTL).
    expires_at: float | None = None
    # The provider's id of a message sent earlier that this one replaces (`MessageSender.edit`): the send is
    # an edit of that message, to read `body`.
    edits: str | None = None
    # The shop's name as people read it (`location` is its identifier): what an SMS shortens to fit.
    location_name: str = ""
    # How to answer the alert by text (an alert SMS's last line: "Répondez 1 si vous y allez"); empty for
    # notices, and unused by the channels nobody answers by text.
    answer_line: str = ""
    # The recipient's language (BCP 47): the words a channel puts around the body (its buttons, the link's
    # label, a call's prompts) are in it, from the message catalog.
    locale: str = "en"
    # Sent again after an attempt whose outcome is unknown, on a channel whose provider cannot drop a repeat:
    # the subject begins with REPEAT_MARK; a channel that speaks says it first.
    repeat: bool = False


# What a chat button that claims an alert carries (Telegram's callback_data, Slack's action_id).
CLAIM_ACTION = "claim"
# The words of the channels' buttons and links, translated into the message's `locale`.
CLAIM_WORD = _("I'm on it")
OPEN_WORD = _("Open")
WATCH_WORD = _("Watch the video")
ACT_WORDS = _("I'm on it / what happened")
# The first words of a message sent again, in case the first one arrived after all.
REPEAT_MARK = _("Repeat: ")


class MessageSender:
    """A one-shot transport for one channel: `send` makes one attempt and raises a classified `SendError`.

    No retry, no circuit breaker and no database here: the delivery wing (`nootification.delivery`) decides
    what an error means for the delivery.
    """

    channel: ClassVar[str]
    # Validates a contact point's {"address": ..., <channel options>} before it is stored.
    config_schema: ClassVar[type[Schema]]
    # Names of the secrets the channel needs, read by `secret()` from the environment or a file.
    secret_names: ClassVar[tuple[str, ...]] = ()
    # Whether the provider (or the receiver) drops a message it already has, by its key (the delivery id).
    deduplicates: ClassVar[bool] = False
    # The longest subject and body the provider takes (characters): a longer rendered text is cut to fit.
    max_subject: ClassVar[int] = 250
    max_body: ClassVar[int] = 4000
    # Whether a sent message can be edited later (`edit`): once someone is on an alert, the others' messages
    # become "Camille is on it".
    edits_messages: ClassVar[bool] = False
    # Whether the channel gets a short follow-up instead, where the shop chose follow-ups.
    sends_follow_ups: ClassVar[bool] = False
    # Whether a person reads it as text: the channels a notice of a new device goes to.
    reads_as_text: ClassVar[bool] = False
    # Whether staff are reached on it (contact points, routes); the camera vendor's channel is not.
    reaches_staff: ClassVar[bool] = True
    # Whether a message rings someone (a phone call): never placed once someone is on the alert.
    rings: ClassVar[bool] = False

    def __init__(self, config: Mapping):
        self.config = config

    def edit(self, provider_ref: str, message: "Message") -> None:
        """Make a message sent earlier read `message.body` (with its buttons when it has an action link); only
        channels whose provider allows it."""
        raise NotImplementedError(f"{self.channel} messages cannot be edited")

    @staticmethod
    def secret(name: str) -> str | None:
        """One of the channel's secrets; they never live in the database."""
        try:
            return read_secret(name)
        except OSError as error:
            raise PermanentSendError(f"cannot read {name}_FILE: {error.strerror}") from None

    def required_secret(self, name: str) -> str:
        """A secret the channel cannot send without; PermanentSendError naming it when it is not set."""
        value = self.secret(name)
        if not value:
            raise PermanentSendError(f"secret {name} is not set")
        return value

    @staticmethod
    def address(message: Message) -> str:
        """The contact point's address; PermanentSendError when the message has none."""
        if not message.address:
            raise PermanentSendError("the contact point has no address")
        return message.address

    def public_url(self, message: Message) -> str:
        """The message's address as a URL to call, refused when it reaches a non-public address (SSRF).

        Checked again at send time, since a name's DNS answer may have changed since it was saved.
        """
        url = self.address(message)
        if not self.config["ALLOW_PRIVATE_WEBHOOK_TARGETS"]:
            reason = non_public_reason(url)
            if reason:
                raise PermanentSendError(f"refused to call the address: {reason}")
        return url

    def send(self, message: Message) -> str | None:
        """Make one attempt to deliver the message; raise a `SendError` subclass on failure. Returns the
        provider's id of the message where it can be edited later (`edit`), else None."""
        raise NotImplementedError

    def destination(self, message: Message) -> str:
        """Where the message goes, as a circuit-breaker name: by default the channel's one provider."""
        return self.channel


class UrlTargetSender(MessageSender):
    """A sender whose contact points are URLs anywhere (webhooks): each host gets a circuit breaker."""

    def destination(self, message: Message) -> str:
        """The host and port of the contact point's URL, so one dead receiver holds up no other."""
        return urlsplit(message.address or "").netloc or self.channel
