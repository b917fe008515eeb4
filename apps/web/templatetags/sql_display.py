"""Showing SQL for review: every hidden character becomes a visible marker."""

from django import template

from apps.sqlcore import invisible

register = template.Library()


@register.filter
def visible(text: object) -> str:
    """The text with ⟦U+XXXX⟧ in place of each invisible or direction-changing character
    (escaped by the template as usual)."""
    return invisible.reveal(str(text)) if text is not None else ""


@register.filter
def hidden_characters(text: object) -> list[str]:
    """Descriptions of the hidden characters in the text, e.g. `U+202E RIGHT-TO-LEFT OVERRIDE`."""
    return [invisible.describe(character) for character in invisible.characters_in(str(text or ""))]
