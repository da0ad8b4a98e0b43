"""lti_tool.portfolio.views."""
