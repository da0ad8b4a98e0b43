"""The page languages' catalogues (one .po per language, in git; .mo files and the right-to-left pseudo-locale
are built by `make translations`) and the two build helpers: babel_extract (pybabel's extractor for the
tool's Python code, used by `make messages` through babel.cfg) and pseudolocalize (writes the pseudo-locale).
Nothing here runs in the tool: launch/language.py chooses a page's language, Flask-Babel reads the catalogues.

May import: nothing of the tool (only Babel).
"""
