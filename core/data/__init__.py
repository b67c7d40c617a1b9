"""The data layer: read any behaviour log, map its columns, sessionize, build vocabularies and
time-ordered per-user sequences stored in the workspace."""
