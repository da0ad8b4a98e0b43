"""lti_tool.portfolio.catalogue.queries."""
