"""Moving a sandbox from one state to another: checked against TRANSITIONS, atomically."""

from apps.sandboxes.models import TRANSITIONS, Sandbox


class IllegalTransition(Exception):
    pass


def move(sandbox: Sandbox, target: str, *, sources: tuple[str, ...] | None = None, **fields) -> bool:
    """Move `sandbox` to `target` if it is still in one of `sources` (default: the state
    the object holds). A conditional UPDATE: of two requests or workers racing for the same
    move, exactly one gets True; the object is updated only for the winner."""
    sources = sources or (sandbox.state,)
    for source in sources:
        if target not in TRANSITIONS.get(source, frozenset()):
            raise IllegalTransition(f"{source} → {target} is not a move a sandbox can make")
    updated = Sandbox.objects.filter(pk=sandbox.pk, state__in=sources).update(state=target, **fields)
    if updated:
        sandbox.state = target
        for name, value in fields.items():
            setattr(sandbox, name, value)
    return updated == 1
