"""gitmodel: Git-native model versioning and rollback on DVC."""

__version__ = "0.1.0"
