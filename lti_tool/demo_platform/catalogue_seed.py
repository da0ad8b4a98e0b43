"""The demo's catalogue: the shipped certifications, offered by the Demo Academy with one criterion of its own.

Runs at every start with the demo platform on, so it must be cheap when nothing changed: the import is a
no-op for unchanged files, and offerings and the criterion are only added when missing (an admin's later
changes to them are left alone).
"""

from __future__ import annotations

import logging

from sqlalchemy import select

from lti_tool.identity.partners import Partner
from lti_tool.portfolio.catalogue.company_criteria import add_partner_criterion, partner_criteria
from lti_tool.portfolio.catalogue.importer import CatalogueInvalid, import_catalogue
from lti_tool.portfolio.catalogue.models import PartnerOffering
from lti_tool.portfolio.catalogue.offerings import offer_certification
from lti_tool.store.db import db
from lti_tool.web.errors import UserError

log = logging.getLogger(__name__)
ACTOR = "system: demo setup"

# An employer-style requirement on top of the accredited criteria: how findings enter the academy's own tools.
DEMO_CRITERION = {
    "certification": "CMIACR",
    "outcome": "CM4.2",
    "code": "DA-CM4.2.1",
    "text": "The learner can log an escalated central monitoring finding in the Demo Academy issue tracker "
    "with its risk category, owner and due date, following the academy's escalation work instruction.",
}


def ensure_demo_catalogue(partner: Partner) -> None:
    try:
        results = import_catalogue(actor_label=ACTOR)
    except CatalogueInvalid as exc:
        # Starting anyway lets `lti-tool catalogue import` report the same problems to whoever fixes them.
        log.error("Demo catalogue not imported. %s", exc.message)
        return
    offered = set(
        db.session.scalars(select(PartnerOffering.certification_code).where(PartnerOffering.partner_id == partner.id))
    )
    for result in results:
        if result.code not in offered:
            offer_certification(partner, result.code, actor_label=ACTOR)
    spec = DEMO_CRITERION
    if any(k.code == spec["code"] for k in partner_criteria(partner.id, spec["certification"])):
        return
    try:
        add_partner_criterion(
            partner, spec["certification"], spec["outcome"], spec["code"], spec["text"], actor_label=ACTOR
        )
    except UserError as exc:
        log.warning("Demo company-specific criterion not added: %s", exc.message)
