"""The command-line tools' logic (tools/*.py are thin wrappers)."""
