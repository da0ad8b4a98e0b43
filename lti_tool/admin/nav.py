"""The console's navigation. Pages other modules add (staff roles, grade sync) appear as links once one of
their endpoints exists; until then as a plain label saying they are not available yet."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app


@dataclass(frozen=True)
class NavItem:
    section: str
    label: str
    endpoints: tuple[str, ...]  # the first one that exists is linked

    def endpoint(self) -> str | None:
        return next((e for e in self.endpoints if e in current_app.view_functions), None)


NAV: tuple[NavItem, ...] = (
    NavItem("overview", "Overview", ("admin.index",)),
    NavItem("registrations", "Registrations", ("admin.registrations",)),
    NavItem("partners", "Partners", ("admin.partners",)),
    NavItem("keys", "Keys", ("admin.keys",)),
    NavItem("invites", "Invites", ("admin.invites",)),
    # Pages of other modules: give the page one of these endpoint names (or add yours here).
    NavItem("staff", "Staff roles", ("admin.staff", "staff_admin.index", "staff.admin")),
    NavItem("grading", "Grade sync", ("admin.grade_sync", "grading_admin.index", "grading.jobs_page")),
    NavItem("certificates", "Certificates", ("credentials.admin_list",)),
    NavItem("sampling", "Sampling report", ("staff_work.sampling_report",)),
    NavItem("caseloads", "Caseloads", ("staff_oversight.caseloads",)),
    NavItem("mail", "Mail outbox", ("notifications.outbox_page",)),
)
# Every page behind these links extends admin/layout.html (and sets `section`), so the menu is the same on each.


def nav_items() -> list[tuple[NavItem, str | None]]:
    return [(item, item.endpoint()) for item in NAV]
