"""lti_tool.portfolio.evidence.items."""
