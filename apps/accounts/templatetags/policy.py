"""Templates ask the policy module too: `{% load policy %}{% if user|is_admin %}`."""

from django import template

from apps.accounts import policy
from querybase.types import AnyUser

register = template.Library()


@register.filter
def is_admin(user: AnyUser) -> bool:
    return policy.is_admin(user)


@register.filter
def may_audit(user: AnyUser) -> bool:
    return policy.may_audit(user)
