"""A built-in demo LMS: real OIDC login and signed id_token launches into the tool, no LMS needed.

Enabled by LTI_TOOL_DEMO_PLATFORM=1 (`make run` does); never on in production.

May import: store, web, audit, launch, identity, portfolio.catalogue. Nothing imports it but lti_tool.app.
"""
