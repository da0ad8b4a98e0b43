"""Reading LTI role URIs. Plain functions so permission rules can be tested without a request."""

from __future__ import annotations

from collections.abc import Iterable

MEMBERSHIP = "http://purl.imsglobal.org/vocab/lis/v2/membership#"
INSTITUTION = "http://purl.imsglobal.org/vocab/lis/v2/institution/person#"
SYSTEM = "http://purl.imsglobal.org/vocab/lis/v2/system/person#"

LEARNER = MEMBERSHIP + "Learner"
INSTRUCTOR = MEMBERSHIP + "Instructor"
CONTENT_DEVELOPER = MEMBERSHIP + "ContentDeveloper"
CONTEXT_ADMIN = MEMBERSHIP + "Administrator"
TEACHING_ASSISTANT = MEMBERSHIP + "Instructor#TeachingAssistant"
MENTOR = MEMBERSHIP + "Mentor"
INSTITUTION_ADMIN = INSTITUTION + "Administrator"
SYSTEM_ADMIN = SYSTEM + "Administrator"


def _names(roles: Iterable[str]) -> set[str]:
    """Context role names, accepting full URIs and the short names LTI 1.3 still allows."""
    names = set()
    for role in roles:
        if role.startswith(MEMBERSHIP):
            names.add(role[len(MEMBERSHIP) :].split("#")[0])
        elif "/" not in role and "#" not in role:
            names.add(role)
    return names


def is_learner(roles: Iterable[str]) -> bool:
    return "Learner" in _names(roles)


def is_instructor(roles: Iterable[str]) -> bool:
    names = _names(roles)
    return bool(names & {"Instructor", "ContentDeveloper", "Administrator"})


def is_lms_admin(roles: Iterable[str]) -> bool:
    roles = list(roles)
    return any(r in (INSTITUTION_ADMIN, SYSTEM_ADMIN, CONTEXT_ADMIN) for r in roles)


def describe(roles: Iterable[str]) -> list[str]:
    """Short human names for display."""
    out = []
    for role in roles:
        out.append(role.rsplit("#", 1)[-1] if "#" in role else role.rsplit("/", 1)[-1])
    return sorted(set(out))
