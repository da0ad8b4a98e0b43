"""Evidence items and their files: what an upload is (judged by content: file_checks, zip_checks, polyglots,
file_names), where blobs live (storage: encrypted, content-addressed, local or S3), key rotation and the
sweep of unreferenced blobs.

May import: store, web, audit, portfolio (core), portfolio.catalogue.
"""
