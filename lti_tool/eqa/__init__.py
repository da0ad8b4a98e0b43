"""External quality assurance: read-only access for external quality assurers (EQA) and regulators, and the
regulator-ready pack of one portfolio or of a sample of portfolios.

- `record`: everything decided about one portfolio, read once (the EQA page and the pack's PDF share it).
- `summary_pdf`: the pack's PDF summary (ReportLab).
- `manifest`: the pack's manifest, its detached signature with the issuer key, and the offline check
  (`lti-tool pack verify`, or `python -m lti_tool.eqa.manifest FILE` with only this package installed).
- `builder`: writes a pack as a ZIP to disk entry by entry, evidence copied from storage in chunks.
- `sampling`: choosing portfolios for EQA (certification, partner, assessor, dates, outcome, a random share).
- `jobs` and `models`: packs are built in the background (PackJob: queued, building, ready, failed,
  expired), downloadable when ready, deleted once expired (housekeeping).
- `views` (the /eqa pages), `cli` (`lti-tool pack build|work|verify`).

Who may see what is decided in identity.access (require_eqa, eqa_covers_scope) and portfolio.access
(eqa_may_view, eqa_scope); every view and download here is audited.

May import: store, web, audit, launch, identity, portfolio (core, catalogue, evidence, review), credentials.
"""
