"""LTI 1.3 tool for competence-based professional accreditation.

The app is built by `lti_tool.app.create_app`; ARCHITECTURE.md at the repository root maps the packages.
Importing this package does nothing else, so any module can be imported (and tested) on its own.
"""
