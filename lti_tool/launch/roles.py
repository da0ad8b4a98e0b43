"""Reading LTI role URIs. Plain functions so permission rules can be tested without a request."""

from __future__ import annotations

import re
from collections.abc import Iterable

from flask_babel import gettext

MEMBERSHIP = "http://purl.imsglobal.org/vocab/lis/v2/membership#"
# A context sub-role names its principal role in the path: .../membership/Instructor#TeachingAssistant.
MEMBERSHIP_SUB = "http://purl.imsglobal.org/vocab/lis/v2/membership/"
INSTITUTION = "http://purl.imsglobal.org/vocab/lis/v2/institution/person#"
SYSTEM = "http://purl.imsglobal.org/vocab/lis/v2/system/person#"

LEARNER = MEMBERSHIP + "Learner"
INSTRUCTOR = MEMBERSHIP + "Instructor"
CONTENT_DEVELOPER = MEMBERSHIP + "ContentDeveloper"
CONTEXT_ADMIN = MEMBERSHIP + "Administrator"
TEACHING_ASSISTANT = MEMBERSHIP_SUB + "Instructor#TeachingAssistant"
MENTOR = MEMBERSHIP + "Mentor"
INSTITUTION_ADMIN = INSTITUTION + "Administrator"
SYSTEM_ADMIN = SYSTEM + "Administrator"


def _names(roles: Iterable[str]) -> set[str]:
    """Context role names, accepting full URIs and the short names LTI 1.3 still allows. A sub-role counts as
    its principal role (Instructor#TeachingAssistant is an instructor's): platforms need not send both."""
    names = set()
    for role in roles:
        for prefix in (MEMBERSHIP, MEMBERSHIP_SUB):
            if role.startswith(prefix):
                names.add(role[len(prefix) :].split("#")[0])
                break
        else:
            if "/" not in role and "#" not in role:
                names.add(role)
    return names


def is_learner(roles: Iterable[str]) -> bool:
    return "Learner" in _names(roles)


def is_instructor(roles: Iterable[str]) -> bool:
    names = _names(roles)
    return bool(names & {"Instructor", "ContentDeveloper", "Administrator"})


def is_lms_admin(roles: Iterable[str]) -> bool:
    roles = list(roles)
    return any(
        r in (INSTITUTION_ADMIN, SYSTEM_ADMIN, CONTEXT_ADMIN) or r.startswith(MEMBERSHIP_SUB + "Administrator#")
        for r in roles
    )


# The roles people meet, in plain words: the standard's names (ContentDeveloper, Instructor#TeachingAssistant)
# are not words a person reads. Translated when shown (the catalogue finds them as a ..._LABELS table); the
# order is the order shown: the course roles, then the institution's, then the system's.
ROLE_LABELS = {
    LEARNER: "Learner",
    INSTRUCTOR: "Instructor",
    TEACHING_ASSISTANT: "Teaching assistant",
    MEMBERSHIP_SUB + "Instructor#SecondaryInstructor": "Secondary instructor",
    MEMBERSHIP_SUB + "Instructor#Grader": "Grader",
    MEMBERSHIP_SUB + "Instructor#ExternalInstructor": "External instructor",
    MEMBERSHIP_SUB + "Instructor#GuestInstructor": "Guest instructor",
    MEMBERSHIP_SUB + "Learner#GuestLearner": "Guest learner",
    MEMBERSHIP_SUB + "Learner#ExternalLearner": "External learner",
    MEMBERSHIP_SUB + "Learner#NonCreditLearner": "Non-credit learner",
    CONTENT_DEVELOPER: "Content developer",
    CONTEXT_ADMIN: "Course administrator",
    MENTOR: "Mentor",
    MEMBERSHIP + "Manager": "Course manager",
    MEMBERSHIP + "Member": "Course member",
    MEMBERSHIP + "Officer": "Course officer",
    INSTITUTION + "Student": "Student",
    INSTITUTION + "Learner": "Learner at the institution",
    INSTITUTION + "Instructor": "Instructor at the institution",
    INSTITUTION + "Faculty": "Faculty member",
    INSTITUTION + "Staff": "Staff member",
    INSTITUTION + "Mentor": "Mentor at the institution",
    INSTITUTION + "Guest": "Guest",
    INSTITUTION + "Alumni": "Former student",
    INSTITUTION + "Observer": "Observer",
    INSTITUTION + "ProspectiveStudent": "Prospective student",
    INSTITUTION + "Member": "Member of the institution",
    INSTITUTION + "Other": "Other role at the institution",
    INSTITUTION_ADMIN: "Institution administrator",
    SYSTEM_ADMIN: "Site administrator",
    SYSTEM + "SysAdmin": "Site administrator",
    SYSTEM + "AccountAdmin": "Account administrator",
    SYSTEM + "SysSupport": "Site support",
    SYSTEM + "Creator": "Account creator",
    SYSTEM + "TestUser": "Test user",
}
# Roles that say the person has none at that level: nothing to show.
_NO_ROLE = {INSTITUTION + "None", SYSTEM + "None", SYSTEM + "User"}
_ORDER = {uri: n for n, uri in enumerate(ROLE_LABELS)}


def _full(role: str) -> str:
    """A role's URI: LTI 1.3 still allows a course role's short name (Learner, Instructor#TeachingAssistant), and
    some platforms write a sub-role after `membership#` (membership#Instructor#TeachingAssistant)."""
    uri = MEMBERSHIP + role if "/" not in role else role
    if uri.startswith(MEMBERSHIP) and uri.count("#") == 2:
        uri = MEMBERSHIP_SUB + uri[len(MEMBERSHIP) :]
    return uri


def _words(name: str) -> str:
    """A role the table does not know, in words from its name: ExternalObserver -> External observer."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", name).strip()
    return spaced[:1].upper() + spaced[1:].lower() if spaced else ""


def _level(uri: str) -> int:
    levels = ((MEMBERSHIP, MEMBERSHIP_SUB), (INSTITUTION,), (SYSTEM,))
    return next((n for n, prefixes in enumerate(levels) if uri.startswith(prefixes)), 3)


def describe(roles: Iterable[str]) -> list[str]:
    """The roles in words a person reads, in the page's language: the course's first, then the institution's and
    the system's (a role the table does not know after the known ones of its level), each once."""
    shown: list[tuple[int, int, int, str]] = []
    for n, role in enumerate(roles):
        uri = _full(role.strip())
        if not uri.strip() or uri in _NO_ROLE:
            continue
        if uri in ROLE_LABELS:
            shown.append((_level(uri), _ORDER[uri], n, gettext(ROLE_LABELS[uri])))
        elif words := _words(uri.rsplit("#", 1)[-1] if "#" in uri else uri.rsplit("/", 1)[-1]):
            shown.append((_level(uri), len(_ORDER), n, words))
    out: list[str] = []
    for *_, label in sorted(shown):
        if label not in out:
            out.append(label)
    return out
