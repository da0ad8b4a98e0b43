"""Who people are to the tool: tool staff roles and their grants (assessor, verifiers, tool administrator,
limited to partners and certifications), partners (the tenants that own deployments), and the one check for
tool-wide administration (`access.require_tool_admin`).

May import: store, web, audit, launch (LMS users, sessions and roles, deployments).
"""
