"""lti_tool.portfolio.review."""
