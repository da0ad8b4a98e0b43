"""Catalogue, evidence, submission, assessment, verification and audit."""
