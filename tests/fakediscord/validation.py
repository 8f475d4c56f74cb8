"""The few limits Discord enforces that a bot is likely to trip over.

Discord answers 400 / code 50035 "Invalid Form Body" with a nested `errors` object; the
fake does the same (with a flat path in the message), so the client raises HTTPException
exactly where the real API would make it raise.
"""

from __future__ import annotations

from typing import Any

from .models import JSON

MAX_CONTENT = 2000
MAX_CUSTOM_ID = 100
MAX_BUTTON_LABEL = 80
MAX_ROWS = 5
MAX_ROW_WIDTH = 5
MAX_SELECT_OPTIONS = 25
MAX_EMBEDS = 10
MAX_EMBED_TOTAL = 6000
MAX_MODAL_TITLE = 45
MAX_CHOICES = 25
MAX_CHOICE_NAME = 100
MAX_CHOICE_VALUE = 100


class DiscordAPIError(Exception):
    """Raised by fake handlers; the middleware turns it into Discord's error JSON."""

    def __init__(self, status: int, code: int, message: str, errors: JSON | None = None) -> None:
        super().__init__(f"{status} {code} {message}")
        self.status = status
        self.code = code
        self.message = message
        self.errors = errors

    def body(self) -> JSON:
        body: JSON = {"message": self.message, "code": self.code}
        if self.errors is not None:
            body["errors"] = self.errors
        return body


def invalid_form(path: str, problem: str) -> DiscordAPIError:
    return DiscordAPIError(
        400,
        50035,
        f"Invalid Form Body: {path}: {problem}",
        {path: {"_errors": [{"code": "BASE_TYPE_INVALID", "message": problem}]}},
    )


def validate_message(payload: JSON, *, is_edit: bool = False) -> None:
    content = payload.get("content")
    if content is not None and len(str(content)) > MAX_CONTENT:
        raise invalid_form("content", f"Must be {MAX_CONTENT} or fewer in length.")
    embeds = payload.get("embeds") or []
    if len(embeds) > MAX_EMBEDS:
        raise invalid_form("embeds", f"Must be {MAX_EMBEDS} or fewer in length.")
    total = 0
    for index, embed in enumerate(embeds):
        total += _embed_size(embed, f"embeds.{index}")
    if total > MAX_EMBED_TOTAL:
        raise invalid_form("embeds", f"Embed size exceeds maximum size of {MAX_EMBED_TOTAL}")
    components = payload.get("components")
    if components:
        validate_components(components, "components", top_level=True)
    if not is_edit and not any(
        payload.get(key) for key in ("content", "embeds", "components", "attachments", "poll")
    ):
        raise DiscordAPIError(400, 50006, "Cannot send an empty message")


def _embed_size(embed: JSON, path: str) -> int:
    limits = {"title": 256, "description": 4096}
    size = 0
    for key, limit in limits.items():
        value = embed.get(key)
        if value is not None:
            if len(value) > limit:
                raise invalid_form(f"{path}.{key}", f"Must be {limit} or fewer in length.")
            size += len(value)
    fields = embed.get("fields") or []
    if len(fields) > 25:
        raise invalid_form(f"{path}.fields", "Must be 25 or fewer in length.")
    for index, item in enumerate(fields):
        if not 1 <= len(item.get("name", "")) <= 256 or not 1 <= len(item.get("value", "")) <= 1024:
            raise invalid_form(f"{path}.fields.{index}", "Field name/value empty or too long.")
        size += len(item.get("name", "")) + len(item.get("value", ""))
    for key, sub in (("footer", "text"), ("author", "name")):
        value = (embed.get(key) or {}).get(sub)
        if value:
            size += len(value)
    return size


def validate_components(
    components: list[JSON], path: str, *, top_level: bool = False, seen: set[str] | None = None
) -> None:
    seen = set() if seen is None else seen
    if top_level and len(components) > MAX_ROWS and all(c.get("type") == 1 for c in components):
        raise invalid_form(path, f"Must be {MAX_ROWS} or fewer in length.")
    for index, component in enumerate(components):
        here = f"{path}.{index}"
        _validate_component(component, here, seen)


def _validate_component(component: JSON, path: str, seen: set[str]) -> None:
    ctype = component.get("type")
    if "custom_id" in component:
        custom_id = component["custom_id"]
        if not isinstance(custom_id, str) or not 1 <= len(custom_id) <= MAX_CUSTOM_ID:
            raise invalid_form(f"{path}.custom_id", f"Must be between 1 and {MAX_CUSTOM_ID} long.")
        if custom_id in seen:
            raise invalid_form(f"{path}.custom_id", "Component custom id cannot be duplicated")
        seen.add(custom_id)
    if ctype == 1:
        children = component.get("components") or []
        width = sum(MAX_ROW_WIDTH if c.get("type") != 2 else 1 for c in children)
        if not children or width > MAX_ROW_WIDTH:
            raise invalid_form(f"{path}.components", "Action row must hold 1-5 buttons or 1 select")
    elif ctype == 2:
        label: Any = component.get("label")
        if label is not None and len(label) > MAX_BUTTON_LABEL:
            raise invalid_form(f"{path}.label", f"Must be {MAX_BUTTON_LABEL} or fewer in length.")
        is_link = component.get("style") == 5
        is_premium = component.get("style") == 6
        if is_link and not component.get("url"):
            raise invalid_form(f"{path}.url", "Link buttons need a url")
        if not is_link and not is_premium and "custom_id" not in component:
            raise invalid_form(f"{path}.custom_id", "Non-link buttons need a custom_id")
    elif ctype == 3:
        options = component.get("options") or []
        if not 1 <= len(options) <= MAX_SELECT_OPTIONS:
            raise invalid_form(f"{path}.options", f"Must be between 1 and {MAX_SELECT_OPTIONS}.")
    for key in ("components",):
        children = component.get(key)
        if children and ctype != 1:
            validate_components(children, f"{path}.{key}", seen=seen)
        elif children:
            for index, child in enumerate(children):
                _validate_component(child, f"{path}.components.{index}", seen)
    for key in ("component", "accessory"):
        child = component.get(key)
        if isinstance(child, dict):
            _validate_component(child, f"{path}.{key}", seen)


def validate_modal(data: JSON) -> None:
    title = data.get("title") or ""
    if not 1 <= len(title) <= MAX_MODAL_TITLE:
        raise invalid_form("data.title", f"Must be between 1 and {MAX_MODAL_TITLE} in length.")
    custom_id = data.get("custom_id") or ""
    if not 1 <= len(custom_id) <= MAX_CUSTOM_ID:
        raise invalid_form("data.custom_id", f"Must be between 1 and {MAX_CUSTOM_ID} long.")
    components = data.get("components") or []
    if not 1 <= len(components) <= MAX_ROWS:
        raise invalid_form("data.components", f"Must be between 1 and {MAX_ROWS} in length.")
    validate_components(components, "data.components")


def validate_choices(data: JSON) -> None:
    """An autocomplete answer: at most 25 choices, each name 1-100 characters and a string
    value at most 100 (Discord refuses the whole answer otherwise)."""
    choices = data.get("choices")
    if not isinstance(choices, list):
        raise invalid_form("data.choices", "This field is required")
    if len(choices) > MAX_CHOICES:
        raise invalid_form("data.choices", f"Must be {MAX_CHOICES} or fewer in length.")
    for index, choice in enumerate(choices):
        name, value = choice.get("name"), choice.get("value")
        if not isinstance(name, str) or not 1 <= len(name) <= MAX_CHOICE_NAME:
            raise invalid_form(
                f"data.choices.{index}.name", f"Must be between 1 and {MAX_CHOICE_NAME} in length."
            )
        if isinstance(value, str) and len(value) > MAX_CHOICE_VALUE:
            raise invalid_form(
                f"data.choices.{index}.value", f"Must be {MAX_CHOICE_VALUE} or fewer in length."
            )
