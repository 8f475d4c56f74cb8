"""Domain errors: their messages are safe to show to the user who caused them."""

from __future__ import annotations


class DomainError(Exception):
    """Base: the message is for the user; the edges map subclasses to answers."""


class NotFoundError(DomainError):
    pass


class InvalidInputError(DomainError):
    pass


class ForbiddenError(DomainError):
    pass


class ConflictStateError(DomainError):
    pass
