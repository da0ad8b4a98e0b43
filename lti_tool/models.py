"""Imports every model module so that `db.metadata` knows all tables (create_all, migrations)."""

import lti_tool.portfolio.models  # noqa: F401
import lti_tool.portfolio.review.appeal_models  # noqa: F401
import lti_tool.portfolio.review.assessment_models  # noqa: F401
import lti_tool.portfolio.review.claim_models  # noqa: F401
import lti_tool.portfolio.review.verification_models  # noqa: F401
from lti_tool.audit import trail as audit  # noqa: F401
from lti_tool.credentials import models as credential_models  # noqa: F401
from lti_tool.demo_platform import models as demo_models  # noqa: F401
from lti_tool.eqa import models as eqa_models  # noqa: F401
from lti_tool.grading import models as grading_models  # noqa: F401
from lti_tool.identity import partners, staff  # noqa: F401
from lti_tool.launch import invites  # noqa: F401
from lti_tool.launch import models as launch_models  # noqa: F401
from lti_tool.notifications import models as notification_models  # noqa: F401
from lti_tool.portfolio import models as portfolio_models  # noqa: F401
from lti_tool.portfolio.catalogue import models as catalogue_models  # noqa: F401
from lti_tool.portfolio.review import assessment_models  # noqa: F401
