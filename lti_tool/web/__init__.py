"""lti_tool.web.wiring."""
