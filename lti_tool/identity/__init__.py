"""lti_tool.identity."""
