"""The accreditation catalogue: certifications (versioned), units, learning outcomes and criteria, imported from
`config/catalogue/*.toml`; what each partner offers (pathways) and its company-specific criteria; which
certification a placement is for.

May import: store, web, audit, launch, identity.
"""
