"""Message templates as versioned data (templates/*.yaml, Jinja2, Vietnamese), validated at load.

Each template answers one event type for one audience (the applicant, or an agency's mailbox)
on some channels. Rendering is strict: a variable the template needs and the context lacks is an
error (`MissingVariables`), never an empty hole in a message to a citizen. SMS texts are measured
in segments (GSM-7 or UCS-2), cut to the limit if they must be, and unaccented for providers that
cannot carry Vietnamese diacritics. Every message records the template version it used."""
from __future__ import annotations

import functools
import hashlib
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import yaml
from jinja2 import Environment, StrictUndefined, TemplateSyntaxError, UndefinedError, meta
from jinja2 import Template as JinjaTemplate
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.calendar import VIETNAM_TZ
from shared.datafiles import newest_versions
from shared.events.catalogue import CATALOGUE

TEMPLATE_DIR = Path(__file__).parent / "templates"
Channel = Literal["sms", "email", "zalo"]
GSM7 = set("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
           "¿abcdefghijklmnopqrstuvwxyzäöñüà")


class EmailTemplate(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    subject: str
    body: str


class ChannelTemplates(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    sms: str | None = None
    zalo: str | None = None
    email: EmailTemplate | None = None


class Template(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str = Field(pattern=r"^[a-z0-9-]+$")
    version: str = Field(pattern=r"^\d{4}\.\d+$")
    event: str
    audience: Literal["applicant", "agency"]
    agency_field: str | None = None          # agency audience: which event field names the agency
    essential: bool = Field(description="Required by law; sent even to applicants who opted out of the rest")
    when: dict[str, Any] = Field(default_factory=dict, description="Event fields that must match")
    channels: ChannelTemplates

    def available(self) -> list[str]:
        return [c for c in ("sms", "zalo", "email") if getattr(self.channels, c) is not None]


class TemplateError(Exception):
    """A template file is invalid; the message names the file and the problem."""


class MissingVariables(Exception):
    def __init__(self, names: list[str]) -> None:
        super().__init__(f"missing template variables: {', '.join(names)}")
        self.names = names


def vn_datetime(value: Any) -> str:
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.astimezone(VIETNAM_TZ).strftime("%H:%M ngày %d/%m/%Y")


def vn_date(value: Any) -> str:
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.astimezone(VIETNAM_TZ).strftime("%d/%m/%Y")


def vnd(amount: int) -> str:
    return f"{amount:,}".replace(",", ".") + " đồng"


def _environment() -> Environment:
    env = Environment(undefined=StrictUndefined, autoescape=False, trim_blocks=True, lstrip_blocks=True,
                      keep_trailing_newline=False)
    env.filters.update(vn_datetime=vn_datetime, vn_date=vn_date, vnd=vnd,
                       number=lambda value: f"{float(value):g}".replace(".", ","))   # 2.5 -> "2,5"
    return env


ENV = _environment()


def unaccent(text: str) -> str:
    """Vietnamese without diacritics, for SMS providers that only carry GSM-7 ('Hồ sơ' -> 'Ho so')."""
    text = text.replace("Đ", "D").replace("đ", "d")
    return "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c))


def sms_segments(text: str) -> tuple[int, str]:
    """How many SMS segments `text` takes, and the encoding."""
    if all(c in GSM7 for c in text):
        return (1 if len(text) <= 160 else -(-len(text) // 153)), "gsm7"
    return (1 if len(text) <= 70 else -(-len(text) // 67)), "ucs2"


def fit_sms(text: str, max_segments: int, unicode: bool) -> str:
    text = " ".join(text.split())
    if not unicode:
        text = unaccent(text)
    segments, encoding = sms_segments(text)
    if segments <= max_segments:
        return text
    limit = (153 if encoding == "gsm7" else 67) * max_segments
    ellipsis = "..." if encoding == "gsm7" else "…"
    return text[:limit - len(ellipsis)] + ellipsis


@dataclass(frozen=True)
class Rendered:
    template_id: str
    template_version: str
    channel: str
    subject: str | None
    body: str


def variables(template: Template, channel: str) -> set[str]:
    return set().union(*(_undeclared(s) for s in _sources(template, channel)))


# Parsing and compiling a template costs far more than rendering it: each source once per process.
@functools.lru_cache(maxsize=1024)
def _undeclared(source: str) -> frozenset[str]:
    return frozenset(meta.find_undeclared_variables(ENV.parse(source)))


@functools.lru_cache(maxsize=1024)
def _compiled(source: str) -> JinjaTemplate:
    return ENV.from_string(source)


def _sources(template: Template, channel: str) -> list[str]:
    part = getattr(template.channels, channel)
    if part is None:
        raise KeyError(channel)
    return [part.subject, part.body] if isinstance(part, EmailTemplate) else [part]


def render(template: Template, channel: str, context: dict[str, Any]) -> Rendered:
    missing = sorted(name for name in variables(template, channel) if name not in context)
    if missing:
        raise MissingVariables(missing)
    try:
        parts = [_compiled(s).render(context).strip() for s in _sources(template, channel)]
    except UndefinedError as exc:   # e.g. an attribute of a present variable
        raise MissingVariables([str(exc)]) from None
    subject, body = (parts[0], parts[1]) if channel == "email" else (None, parts[0])
    return Rendered(template.id, template.version, channel, subject, body)


@dataclass(frozen=True)
class Templates:
    current: dict[str, Template]
    versions: dict[tuple[str, str], Template]
    agency_contacts: dict[str, list[str]]
    etag: str

    def for_event(self, event_type: str, data: dict[str, Any]) -> list[Template]:
        return [t for t in self.current.values() if t.event == event_type
                and all(data.get(k) == v for k, v in t.when.items())]


def load_templates(directory: Path = TEMPLATE_DIR) -> Templates:
    digest = hashlib.sha256()
    versions: dict[tuple[str, str], Template] = {}
    contacts: dict[str, list[str]] = {}
    for path in sorted(directory.glob("*.yaml")):
        digest.update(path.name.encode() + path.read_bytes())
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        if path.name == "agency_contacts.yaml":
            contacts = {str(k): list(v) for k, v in (raw or {}).items()}
            continue
        try:
            template = Template.model_validate(raw)
        except ValidationError as exc:
            first = exc.errors()[0]
            raise TemplateError(f"{path.name}: {'.'.join(map(str, first['loc']))}: {first['msg']}") from None
        if template.event not in CATALOGUE:
            raise TemplateError(f"{path.name}: event: {template.event} is not in the event catalogue")
        if template.audience == "agency" and not template.agency_field:
            raise TemplateError(f"{path.name}: agency_field: an agency template must name the event's agency field")
        for channel in template.available():
            for source in _sources(template, channel):
                try:
                    ENV.parse(source)
                except TemplateSyntaxError as exc:
                    raise TemplateError(f"{path.name}: channels.{channel}: line {exc.lineno}: {exc.message}") from None
        if (template.id, template.version) in versions:
            raise TemplateError(f"{path.name}: version: {template.id} {template.version} is defined twice")
        versions[(template.id, template.version)] = template
    if not versions:
        raise TemplateError(f"{directory.name}: no templates")
    return Templates(newest_versions(versions.values(), key=lambda t: t.id), versions, contacts,
                     etag=f'"{digest.hexdigest()[:32]}"')
