"""Message templates: Jinja2 in a sandbox, per (label, channel, locale), with shipped defaults."""

import functools
import logging
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from jinja2 import StrictUndefined
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment

from nootification.errors import Conflict, InvalidInput, NotFound
from nootification.extensions import db
from nootification.i18n import (
    DEFAULT_LOCALE,
    language,
    local_datetime,
    local_time,
    locale_for,
    translate,
)
from nootification.i18n import mark as _
from nootification.models import Alert, Severity, Template, User
from nootification.services.alerts import get_alert
from nootification.services.audit import record, template_state
from nootification.services.cache import PeriodicRead

log = logging.getLogger(__name__)

ANY = "*"

# Used when no stored template matches; stored templates with label and channel "*" override them. Their
# English text is the message id of their translations in the catalog (nootification/translations/).
# No link in the body: every sender adds the video link itself, in the form its channel shows best.
SHIPPED_SUBJECT = _("{{ label_text|capitalize }} at {{ location_name }}")
SHIPPED_BODY = _(
    "{{ label_text|capitalize }} spotted at {{ location_name }} at {{ local_time }} ({{ severity_text }})."
)
# The words of the labels and severities we know, for the catalog; another label is shown as it came.
LABEL_WORDS = {"theft": _("theft"), "suspicious": _("suspicious"), "normal": _("normal")}
SEVERITY_WORDS = {Severity.CRITICAL.value: _("critical"), Severity.STANDARD.value: _("standard")}

# What one rendered template may produce at most, whatever the channel: repeating a text or a list beyond it
# is refused while rendering, before it takes the memory. Each channel then cuts to its provider's limit.
MAX_RENDERED = 100_000
MAX_EXPONENT = 100


class BoundedEnvironment(SandboxedEnvironment):
    """Jinja2's sandbox, with `*` and `**` refused where their result would be huge (`label * 10**9`)."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context, operator: str, left, right):
        """Compute `left operator right`, refusing an oversized repetition or power."""
        if operator == "*" and _repetition_length(left, right) > MAX_RENDERED:
            raise SecurityError(f"a repetition longer than {MAX_RENDERED} is not allowed")
        if operator == "**" and isinstance(right, int | float) and abs(right) > MAX_EXPONENT:
            raise SecurityError(f"an exponent above {MAX_EXPONENT} is not allowed")
        return super().call_binop(context, operator, left, right)


def _repetition_length(left, right) -> int:
    for sequence, times in ((left, right), (right, left)):
        if isinstance(sequence, str | list | tuple) and isinstance(times, int):
            return len(sequence) * times
    return 0


_environment = BoundedEnvironment(undefined=StrictUndefined, autoescape=False)


class TemplateRenderError(Exception):
    """A template could not be rendered for a delivery."""


@dataclass(frozen=True)
class Rendered:
    """A rendered subject and body."""

    subject: str
    body: str


@functools.lru_cache(maxsize=1024)
def _compiled(source: str):
    # Compiling is the costly part and templates change rarely: cache by source text.
    return _environment.from_string(source)


def label_text(label: str, locale: str) -> str:
    """An alert's label in `locale` when it is one we know the word of, else as it came."""
    return translate(locale, LABEL_WORDS[label]) if label in LABEL_WORDS else label


def context_for(alert: Alert, user: User | None, locale: str = DEFAULT_LOCALE) -> dict:
    """The variables a template sees: the alert's fields, the shop and its local time, the user's name;
    the words and times in `locale`."""
    timezone = alert.location.timezone
    severity = alert.severity.value
    return {
        "alert_uuid": alert.alert_uuid,
        "url": alert.url,
        "label": alert.label,
        "label_text": label_text(alert.label, locale),
        "severity": severity,
        "severity_text": translate(locale, SEVERITY_WORDS.get(severity, severity)),
        "time_spotted": alert.time_spotted.isoformat(),
        "location": alert.location.name,
        "location_name": alert.location.display_name,
        "local_time": local_time(alert.time_spotted, locale, timezone),
        "local_datetime": local_datetime(alert.time_spotted, locale, timezone),
        "user_name": user.name if user is not None else "",
    }


def sample_context() -> dict:
    """Variables with example values, used to check a template when it is saved."""
    return {
        "alert_uuid": "33cbb18c-3e9d-4acc-9667-2fbe7bf29137",
        "url": "https://media.example.com/b36006d7.mp4",
        "label": "theft",
        "label_text": "theft",
        "severity": "critical",
        "severity_text": "critical",
        "time_spotted": datetime(2026, 3, 20, 11, 31).isoformat(),
        "location": "fr-auchan-larochelle",
        "location_name": "Auchan La Rochelle",
        "local_time": "12:31",
        "local_datetime": "2026-03-20 12:31 CET",
        "user_name": "Camille",
    }


def render_text(subject: str, body: str, context: dict) -> Rendered:
    """Render a subject and body; TemplateRenderError on any failure, sandbox refusals included."""
    try:
        return Rendered(_compiled(subject).render(context).strip(), _compiled(body).render(context).strip())
    # A stored template is user input: whatever it raises (a sandbox refusal, 1/0, a huge range)
    # is the template's failure, never the worker's.
    except Exception as error:  # noqa: BLE001
        raise TemplateRenderError(f"template error: {type(error).__name__}: {error}") from error


@dataclass(frozen=True)
class StoredTemplate:
    """A stored template's key and text, detached from the session so it can be cached."""

    label: str
    channel: str
    locale: str
    subject: str
    body: str


def _stored_templates() -> list[StoredTemplate]:
    rows = db.session.execute(
        sa.select(Template.label, Template.channel, Template.locale, Template.subject, Template.body)
    )
    return [StoredTemplate(*row) for row in rows]


# A worker renders every delivery; the table is small and changes rarely, so one read serves many.
cache = PeriodicRead(_stored_templates)


def find_template(label: str, channel: str, locale: str) -> tuple[str, str]:
    """The most specific stored template's (subject, body), else the shipped default for the locale."""
    # A shop in `fr-FR` takes a template stored for `fr-FR`, else for `fr`, else the English one.
    locales = list(dict.fromkeys([locale, language(locale), DEFAULT_LOCALE]))
    candidates = [
        template
        for template in cache.get()
        if template.label in (label, ANY)
        and template.channel in (channel, ANY)
        and template.locale in locales
    ]
    if candidates:

        def precedence(template: StoredTemplate) -> tuple[int, bool, bool]:
            return (locales.index(template.locale), template.label == ANY, template.channel == ANY)

        best = min(candidates, key=precedence)
        return best.subject, best.body
    return shipped_template(locale)


def shipped_template(locale: str) -> tuple[str, str]:
    """The built-in (subject, body) in a locale's language, from the catalog (English when it has none)."""
    return translate(locale, SHIPPED_SUBJECT), translate(locale, SHIPPED_BODY)


def render_for(alert: Alert, user: User, channel: str) -> Rendered:
    """The message one user receives about an alert on a channel.

    A stored template that fails on the alert's real values gives way to the built-in one, with a warning:
    the alert still goes out, on this channel and on every other.
    """
    locale = locale_for(user.locale, alert.location.locale)
    template = find_template(alert.label, channel, locale)
    context = context_for(alert, user, locale)
    try:
        return render_text(*template, context)
    except TemplateRenderError as error:
        if template == shipped_template(locale):
            raise
        log.warning(
            "the stored template for %s on %s (%s) failed, so the built-in one is used: %s",
            alert.label,
            channel,
            locale,
            error,
        )
        return render_text(*shipped_template(locale), context)


def _check_syntax(subject: str, body: str) -> None:
    errors = {}
    for field, source in (("subject", subject), ("body", body)):
        try:
            render_text("", source, sample_context())
        except TemplateRenderError as error:
            errors[field] = [str(error)]
    if errors:
        raise InvalidInput("The template does not render.", errors=errors)


def list_templates() -> list[Template]:
    """Every stored template."""
    return list(
        db.session.scalars(sa.select(Template).order_by(Template.label, Template.channel, Template.locale))
    )


def get_template(template_id: int) -> Template:
    """The template with this id."""
    template = db.session.get(Template, template_id)
    if template is None:
        raise NotFound("No template with this id.")
    return template


def create_template(*, label: str, channel: str, locale: str, body: str, subject: str = "") -> Template:
    """Store a template once it renders with sample values; one per (label, channel, locale)."""
    _check_syntax(subject, body)
    exists = db.session.scalar(
        sa.select(Template.id).where(
            Template.label == label, Template.channel == channel, Template.locale == locale
        )
    )
    if exists is not None:
        raise Conflict("A template for this label, channel and locale exists.", field="label")
    template = Template(label=label, channel=channel, locale=locale, subject=subject, body=body)
    db.session.add(template)
    db.session.flush()  # the template's id names it in the audit log
    after = template_state(template)
    record("template.create", target_type="template", target_id=template.id, before=None, after=after)
    db.session.commit()
    cache.forget()
    return template


def update_template(template_id: int, **changes) -> Template:
    """Change a template's subject or body; refused if it no longer renders."""
    template = get_template(template_id)
    _check_syntax(changes.get("subject", template.subject), changes.get("body", template.body))
    before = template_state(template)
    for attribute, value in changes.items():
        setattr(template, attribute, value)
    after = template_state(template)
    record("template.update", target_type="template", target_id=template_id, before=before, after=after)
    db.session.commit()
    cache.forget()
    return template


def delete_template(template_id: int) -> None:
    """Remove a template."""
    template = get_template(template_id)
    before = template_state(template)
    record("template.delete", target_type="template", target_id=template_id, before=before, after=None)
    db.session.delete(template)
    db.session.commit()
    cache.forget()


def preview(template_id: int, alert_uuid: str | None = None) -> Rendered:
    """Render a stored template with a stored alert's values, or sample values."""
    template = get_template(template_id)
    context = context_for(get_alert(alert_uuid), None, template.locale) if alert_uuid else sample_context()
    try:
        return render_text(template.subject, template.body, context)
    except TemplateRenderError as error:
        raise InvalidInput(str(error), field="template") from error
