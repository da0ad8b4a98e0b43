"""The demo course, its placements and the people in it."""

from __future__ import annotations

from dataclasses import dataclass, field

from lti_tool.launch import roles as r

COURSE_ID = "demo-course-cm101"
COURSE_TITLE = "Central Monitoring in Practice (Demo Academy)"
COURSE_LABEL = "CM101"
CLIENT_ID = "demo-tool-client"
DEPLOYMENT_ID = "demo-deployment-1"
PARTNER_SLUG = "demo-academy"
PARTNER_NAME = "Demo Academy"


@dataclass(frozen=True)
class DemoUser:
    sub: str
    given_name: str
    family_name: str
    roles: tuple[str, ...]
    summary: str
    tool_role: str | None = None  # granted in the tool by the demo setup (assessor, verifiers, admin)
    locale: str = "en-GB"  # the language the demo LMS launches them in (their notifications are written in it)

    @property
    def name(self) -> str:
        return f"{self.given_name} {self.family_name}"

    @property
    def email(self) -> str:
        return f"{self.given_name.lower()}.{self.family_name.lower()}@demo-academy.example"


@dataclass(frozen=True)
class DemoPlacement:
    id: str
    title: str
    custom: dict[str, str] = field(default_factory=dict)
    line_item_id: int | None = None  # the gradebook column linked to it (deep-linked activities)


USERS: tuple[DemoUser, ...] = (
    DemoUser("demo-learner-ada", "Ada", "Mensah", (r.LEARNER,), "Learner on the training route"),
    DemoUser(
        "demo-learner-ben",
        "Ben",
        "Carter",
        (r.LEARNER,),
        "Another learner in the same course; his LMS speaks French, and so do the tool's e-mails to him",
        locale="fr-FR",
    ),
    DemoUser("demo-instructor-iris", "Iris", "Novak", (r.INSTRUCTOR,), "Course instructor at the academy"),
    DemoUser("demo-assessor-sam", "Sam", "Okafor", (r.TEACHING_ASSISTANT,), "Assessor", "assessor"),
    DemoUser(
        "demo-verifier-vera",
        "Vera",
        "Ivanova",
        (r.TEACHING_ASSISTANT,),
        "Internal verifier (step 1)",
        "internal_verifier",
    ),
    DemoUser(
        "demo-verifier-eli",
        "Eli",
        "Brandt",
        (r.TEACHING_ASSISTANT,),
        "Independent verifier (step 2), not attached to the academy",
        "independent_verifier",
    ),
    DemoUser(
        "demo-eqa-erin",
        "Erin",
        "Walsh",
        (r.MENTOR,),
        "External quality assurer for the awarding body: reads portfolios and decisions, builds packs (read-only)",
        "external_quality_assurer",
    ),
    DemoUser(
        "demo-admin-alex",
        "Alex",
        "Reyes",
        (r.INSTITUTION_ADMIN, r.CONTEXT_ADMIN),
        "LMS administrator and tool administrator",
        "tool_admin",
    ),
)

PLACEMENTS: tuple[DemoPlacement, ...] = (
    DemoPlacement("demo-link-cmiacr", "CMIACR accreditation portfolio", {"certification": "CMIACR"}),
)


def user(sub: str) -> DemoUser | None:
    return next((u for u in USERS if u.sub == sub), None)


def placement(link_id: str) -> DemoPlacement | None:
    return next((p for p in PLACEMENTS if p.id == link_id), None)


def all_members() -> tuple[DemoUser, ...]:
    return USERS


def may_add_activities(user: DemoUser) -> bool:
    """Editing teachers add activities (deep linking); teaching assistants do not."""
    return r.is_instructor(user.roles) and not any("TeachingAssistant" in role for role in user.roles)
