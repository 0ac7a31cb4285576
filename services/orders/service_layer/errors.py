"""How a broken domain rule reads at the edge: a DomainError naming the rule's field."""

from __future__ import annotations

from services.orders.domain import rules
from shared.errors import DomainError


def rule_error(violation: rules.RuleViolation) -> DomainError:
    return DomainError(
        violation.message, code=violation.code, field=violation.field, **violation.context
    )
