"""What time alone brings, looked for now and then (the worker every NOTIFY_SCAN_SECONDS, or `lti-tool
notifications scan` from cron): learners whose time to appeal runs out soon, work waiting past the service
level, and daily digests that are due.

Safe to run in several processes at once and as often as wanted: each notice has its event key (a learner
is reminded once per decision, administrators told once a day of overdue work), and a digest once per set of
notices.
"""

from __future__ import annotations

import datetime as dt
import logging

from flask import current_app
from sqlalchemy import exists, func, select, update
from sqlalchemy.exc import IntegrityError

from lti_tool.launch.models import LtiUser
from lti_tool.notifications import kinds, mail, rules
from lti_tool.notifications.events import tool_admin_ids, users_by_id
from lti_tool.notifications.models import MAIL_DIGEST, MAIL_DIGESTED, MAIL_NONE, Notification, NotificationSettings
from lti_tool.notifications.notify import Target, mail_service, notify, queue_digest
from lti_tool.portfolio import workflow
from lti_tool.portfolio.models import Portfolio, Submission
from lti_tool.portfolio.review import appeals, queues
from lti_tool.portfolio.review.appeal_models import Appeal
from lti_tool.portfolio.review.assessment_models import NOT_YET_COMPETENT, Assessment
from lti_tool.store.db import db, utcnow

log = logging.getLogger(__name__)
MAX_DIGEST = 200


def appeal_reminders(now: dt.datetime) -> int:
    """Remind learners who have not appealed a referral that their period ends within the reminder days."""
    days = appeals.appeal_days()
    reminder = int(current_app.config["NOTIFY_APPEAL_REMINDER_DAYS"])
    if reminder <= 0:
        return 0
    earliest, latest = rules.appeal_reminder_window(now, days, reminder)
    candidates = db.session.execute(
        select(Assessment, Portfolio)
        .join(Submission, Assessment.submission_id == Submission.id)
        .join(Portfolio, Submission.portfolio_id == Portfolio.id)
        .where(
            Portfolio.state == workflow.REFERRED,
            Assessment.decision == NOT_YET_COMPETENT,
            Assessment.decided_at > earliest,
            Assessment.decided_at <= latest,
            ~exists().where(Appeal.assessment_id == Assessment.id),
        )
        .order_by(Assessment.id)
    ).all()
    told = 0
    for assessment, portfolio in candidates:
        window = appeals.appeal_window(portfolio, now)  # the latest decision, still open to appeal
        if not window.allowed or window.assessment is None or window.assessment.id != assessment.id:
            continue
        assert window.deadline is not None
        notice = notify(
            portfolio.user,
            kinds.APPEAL_DEADLINE,
            "appeal_deadline",
            {"certification": portfolio.certification.code, "deadline": window.deadline.date()},
            event_key=f"appeal_deadline:{assessment.id}",
            target=Target("learner.overview", {"portfolio_id": portfolio.id}),
            resource_link_id=portfolio.resource_link_id,
        )
        told += notice is not None
    db.session.commit()
    return told


def overdue_work(now: dt.datetime) -> int:
    """Tell tool administrators, once a day, how much work has waited past the service level."""
    days = int(current_app.config["SERVICE_LEVEL_DAYS"])
    cutoff = now - dt.timedelta(days=days)
    by_state = {q.state: q for q in queues.QUEUES}
    rows = db.session.execute(
        select(Portfolio.state, func.count(), func.min(Portfolio.state_changed_at))
        .where(Portfolio.state.in_(list(by_state)), Portfolio.state_changed_at < cutoff)
        .group_by(Portfolio.state)
    ).all()
    found = [
        rules.Overdue(by_state[state].title, count, (now - oldest).days)
        for state, count, oldest in sorted(rows, key=lambda r: list(by_state).index(r[0]))
    ]
    total, summary, oldest = rules.overdue_summary(found)
    if not total:
        return 0
    params = {"count": total, "days": days, "summary": summary, "oldest": oldest}
    told = 0
    for user in users_by_id(tool_admin_ids()):
        notice = notify(
            user,
            kinds.WORK_OVERDUE,
            "work_overdue",
            params,
            event_key=f"work_overdue:{now.date().isoformat()}",
            target=Target("staff_work.home", {}),
        )
        told += notice is not None
    db.session.commit()
    return told


def digests(now: dt.datetime) -> int:
    """Send each person's kept notices in one message once their daily digest is due."""
    waiting = list(
        db.session.scalars(select(Notification.user_id).where(Notification.mail_state == MAIL_DIGEST).distinct())
    )
    sent = 0
    for user_id in waiting:
        settings = db.session.get(NotificationSettings, user_id)
        if not rules.digest_due(settings.digest_sent_at if settings else None, now, bool(settings and settings.digest)):
            continue
        user = db.session.get(LtiUser, user_id)
        notices = list(
            db.session.scalars(
                select(Notification)
                .where(Notification.user_id == user_id, Notification.mail_state == MAIL_DIGEST)
                .order_by(Notification.id)
                .limit(MAX_DIGEST)
            )
        )
        if user is None or not notices:
            continue
        state = MAIL_NONE
        if mail.usable_address(user.email) and mail_service():
            try:
                with db.session.begin_nested():
                    queue_digest(user, notices)
            except IntegrityError:  # another process sent this digest a moment ago
                db.session.rollback()
                continue
            state, sent = MAIL_DIGESTED, sent + 1
        db.session.execute(
            update(Notification)
            .where(Notification.id.in_([n.id for n in notices]), Notification.mail_state == MAIL_DIGEST)
            .values(mail_state=state)
            .execution_options(synchronize_session=False)
        )
        if settings is None:
            settings = NotificationSettings(user_id=user_id)
            db.session.add(settings)
        settings.digest_sent_at = now
        db.session.commit()
    return sent


def run_scan(now: dt.datetime | None = None) -> dict[str, int]:
    now = now or utcnow()
    return {
        "appeal_reminders": appeal_reminders(now),
        "overdue": overdue_work(now),
        "digests": digests(now),
    }
