"""lti_tool.audit.trail."""
