"""The ESS registry as staff see it (issue 6, item 4): plain functions shared by the staff
pages (bot/admin/registry.py), the CLI (``essbot actors export|import``) and the tests.

- :mod:`bot.registry.fields` — French labels of the registry fields and of their values (from
  dialogs/registration.yaml and dialogs/places/), validation rules, completeness.
- :mod:`bot.registry.query` — the filters of the registry list and its paginated query.
- :mod:`bot.registry.export` — CSV/XLSX export of a filtered registry.
- :mod:`bot.registry.changes` — staff edits and deletions on request.
- :mod:`bot.registry.importer` — import of the mairie's existing lists (CSV/XLSX).
"""
