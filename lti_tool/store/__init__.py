"""lti_tool.store."""
